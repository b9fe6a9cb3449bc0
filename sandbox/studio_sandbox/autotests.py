"""AUTOTEST directives expanded inside a grading sandbox: ``python -m studio_sandbox.autotests`` in the container.

nbgrader's ``InstantiateTests`` expands a source notebook's AUTOTEST directives by running its cells in a kernel:
a course team's code. On the trusted side, :class:`studio_grader.trusted.SandboxedAutotests` takes that step's place
and sends the notebook and the assignment's ``autotests.yml`` here, into a sandbox like the grading ones (gVisor,
no network, read-only image, nothing of the host): this program writes them to a private folder, becomes an
unprivileged user, runs nbgrader's own InstantiateTests on them and answers with the expanded notebook. The reply
is one JSON line on the standard output, which nothing else in here writes to (the kernel's is /dev/null).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from . import confine

# nobody: the course's code runs without root or capabilities, even inside the sandbox; on the bubblewrap engine, the
# first uid of the sandbox's own block (no other process on the machine has it).
UID = int(os.environ.get("STUDIO_SANDBOX_FIRST_UID") or 65534)
MAX_JOB = 64 * 2**20


def main() -> None:
    reply = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the kernel inherits this: nothing of the course's reaches the reply
    try:
        job = json.loads(sys.stdin.read(MAX_JOB))
        result = {"notebook": expand(job["notebook"], job.get("autotests"))}
    except Exception as e:  # noqa: BLE001 -- any failure is the answer, with its reason
        result = {"error": f"{type(e).__name__}: {_reason(e)}"[:4000]}
    reply.write(json.dumps(result) + "\n")
    reply.flush()


def _reason(e: Exception) -> str:
    """What went wrong; for a cell that raised while the directives were expanded, its error (nbgrader's
    CellExecutionError cannot say it itself)."""
    if hasattr(e, "ename"):
        return f"a cell raised {e.ename}: {e.evalue}"
    try:
        return str(e)
    except Exception:  # noqa: BLE001
        return repr(e.args)


def expand(notebook: str, autotests: str | None) -> str:
    import nbformat
    from nbgrader.preprocessors import InstantiateTests

    work = Path(tempfile.mkdtemp(prefix="autotests-", dir="/tmp"))
    (work / "source.ipynb").write_text(notebook)
    if autotests is not None:
        (work / "autotests.yml").write_text(autotests)
    for path in (work, *work.iterdir()):
        os.chown(path, UID, UID)
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(UID)
        os.setuid(UID)
        if confine.wanted():
            confine.restrict()
    os.environ.update(HOME=str(work), JUPYTER_RUNTIME_DIR=str(work / ".runtime"), IPYTHONDIR=str(work / ".ipython"))
    os.chdir(work)
    nb = nbformat.read(work / "source.ipynb", as_version=4)
    nb, _ = InstantiateTests().preprocess(nb, {"metadata": {"path": str(work)}})
    return nbformat.writes(nb)


if __name__ == "__main__":
    main()

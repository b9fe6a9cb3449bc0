"""nbgrader on the trusted side (the grading service's workers, formgrader): nothing of a course's runs there.

A course team is trusted with its course only. nbgrader's ``generate_assignment`` expands AUTOTEST directives
(``InstantiateTests``) by starting a kernel and running the source notebook's cells in it, with ``autotests.yml``
from the assignment's folder: on the grading service, a course's code would run next to its tokens and every
course's gradebook. There that step is :class:`SandboxedAutotests`: the notebook and ``autotests.yml`` go, as data,
to a sandbox like the grading ones, where nbgrader's own InstantiateTests expands them
(:mod:`studio_sandbox.autotests`), and only the expanded notebook comes back.

Everything else generate_assignment does (clearing solutions and hidden tests, checksums, the gradebook) reads the
notebook as data. A course's upload never holds configuration that is read here: the course's
``nbgrader_config.py`` is the service's own, written at every start, and nbgrader is run from the course folder.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
from pathlib import Path

import nbformat
from nbgrader.preprocessors import InstantiateTests
from traitlets import Enum, Float, Unicode, default

from .sandbox import ENGINES, MAX_REPLY, SandboxError, SandboxSpec


class SandboxedAutotests(InstantiateTests):
    """In place of InstantiateTests: AUTOTEST directives expanded in a grading sandbox, never here."""

    image = Unicode("studio-learner:latest", help="The sandbox's image (the grading sandboxes' own)").tag(config=True)
    runtime = Unicode("runsc", help="The sandbox's Docker runtime").tag(config=True)
    engine = Enum(ENGINES, "docker", help="Docker (gVisor), or bubblewrap on this machine").tag(config=True)
    prefix = Unicode("studio-grade", help="Container names start with it").tag(config=True)
    timeout = Float(300.0, help="Seconds the expansion of one notebook may take").tag(config=True)
    backend = Enum(
        ("docker", "service"),
        "docker",
        help="""Where the sandbox runs: 'docker', started here;
        'service': the grading service's (a course's formgrader, whose account may not use Docker, with its own
        token; an instructor's server, with their hub token).""",
    ).tag(config=True)
    grading_url = Unicode(help="The grading service (default: $STUDIO_GRADING_URL)").tag(config=True)

    @default("grading_url")
    def _grading_url_default(self) -> str:
        return os.environ.get("STUDIO_GRADING_URL", "")

    def preprocess(self, nb, resources):
        if not any(cell.cell_type == "code" and self.autotest_delimiter in cell.source for cell in nb.cells):
            return nb, resources
        where = resources.get("unique_key", "the notebook")
        # nbgrader reads the assignment's autotests.yml, else the course folder's: read here as text, sent as data.
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        found = [p for p in (folder / self.autotest_filename, Path(self.autotest_filename)) if p.is_file()]
        notebook, autotests = nbformat.writes(nb), found[0].read_text() if found else None
        if self.backend == "service":
            from .preprocessor import call_service

            answer = call_service(
                self.grading_url,
                f"api/autotests/{self.config.CourseDirectory.course_id}",
                {"notebook": notebook, "autotests": autotests},
                self.timeout + 60,
            )
        else:
            spec = SandboxSpec(
                image=self.image, runtime=self.runtime, engine=self.engine, prefix=f"{self.prefix}-autotests"
            )
            answer = expand_in_sandbox(notebook, autotests, spec, self.timeout)
        if not isinstance(answer.get("notebook"), str):
            raise ValueError(
                f"expanding the AUTOTEST directives of {where} (in a grading sandbox) failed: "
                f"{str(answer.get('error'))[:4000]}"
            )
        expanded = nbformat.reads(answer["notebook"], as_version=4)
        if any(c.cell_type == "code" and self.autotest_delimiter in c.source for c in expanded.cells):
            raise ValueError(f"{where}: AUTOTEST directives are left after expansion")
        return expanded, resources


def expand_in_sandbox(notebook: str, autotests: str | None, spec: SandboxSpec, timeout: float) -> dict:
    """nbgrader's InstantiateTests on ``notebook`` (text) with ``autotests`` (autotests.yml's text, or None), in a
    fresh sandbox: ``{"notebook": text}``, or ``{"error": why}``."""
    return run_once(
        spec, ("python", "-m", "studio_sandbox.autotests"), {"notebook": notebook, "autotests": autotests}, timeout
    )


def run_once(spec: SandboxSpec, command: tuple[str, ...], job: dict, timeout: float) -> dict:
    """Run ``command`` in a fresh sandbox with ``job`` (JSON) on its input; its one-line JSON answer, read no further
    than MAX_REPLY (its error output: the last 4 kB kept). The sandbox is removed however it ends."""
    name = f"{spec.prefix}-{secrets.token_hex(5)}"
    try:
        proc, uids = spec.start(
            name, True, command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except SandboxError as e:
        return {"error": str(e)}
    stopped, err = threading.Event(), bytearray()

    def stop() -> None:
        stopped.set()
        spec.remove(name, proc)

    def drain() -> None:  # read all of it (the sandbox never blocks on a full pipe), keep the end
        for chunk in iter(lambda: proc.stderr.read(8192), b""):
            err[:] = (err + chunk)[-4096:]

    timer, drainer = threading.Timer(timeout, stop), threading.Thread(target=drain, daemon=True)
    timer.start()
    drainer.start()
    out = b""
    try:
        try:
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        out = proc.stdout.read(MAX_REPLY + 1)
    finally:
        timer.cancel()
        try:
            proc.wait(timeout=10)  # it has answered (or closed its output): it ends now, else it is stopped
        except subprocess.TimeoutExpired:
            stop()
            proc.kill()
            proc.wait()
        drainer.join(5)
        if uids is not None:
            uids.release()
    if len(out) > MAX_REPLY:
        return {"error": f"the sandbox answered with more than {MAX_REPLY // 2**20} MiB"}
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
        if isinstance(answer, dict):
            return answer
        raise ValueError
    except (ValueError, IndexError):
        why = f"stopped after {timeout:.0f} s" if stopped.is_set() else f"exit code {proc.returncode}"
        return {"error": f"the sandbox gave no answer ({why}): {err.decode(errors='replace').strip()[-1500:]}"}


# nbgrader's GenerateAssignment.preprocessors with InstantiateTests replaced; order as nbgrader's own list.
GENERATE_ASSIGNMENT = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "studio_grader.trusted.SandboxedAutotests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def configure(c, image: str, runtime: str, prefix: str, engine: str = "docker") -> None:
    """What a course folder on the trusted side adds to :func:`studio_grader.pipeline.configure`: the sandboxes
    AUTOTEST directives are expanded in."""
    c.GenerateAssignment.preprocessors = list(GENERATE_ASSIGNMENT)
    c.SandboxedAutotests.image, c.SandboxedAutotests.runtime, c.SandboxedAutotests.prefix = image, runtime, prefix
    c.SandboxedAutotests.engine = engine

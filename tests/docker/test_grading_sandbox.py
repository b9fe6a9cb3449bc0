"""Grading sandboxes under gVisor: outputs as a kernel records them, and hostile submissions contained.

Every job runs in a real runsc container (``studio_sandbox.worker`` in the learner image). The pooled mode's promise
is tested directly: consecutive jobs in one sandbox cannot see or touch each other.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from studio_grader.sandbox import SandboxPool, SandboxSpec

pytestmark = pytest.mark.docker


def run(pool, *cells: str, grade: tuple[int, ...] = (), timeout: float = 5, job_timeout: float = 60) -> dict:
    job = {
        "id": "t",
        "timeout": timeout,
        "job_timeout": job_timeout,
        "limits": {"memory_mib": 256, "processes": 8},
        "cells": [{"source": src, "grade": i in grade} for i, src in enumerate(cells)],
    }
    return pool.run(job, timeout=job_timeout + 60)


def text(cell: dict) -> str:
    return "".join(o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream")


def errors(cell: dict) -> list[str]:
    return [o["ename"] for o in cell["outputs"] if o["output_type"] == "error"]


def test_outputs_are_what_a_kernel_records(pool):
    r = run(
        pool,
        "x = 20\nprint('hi')\nx + 1",
        "from IPython.display import HTML, display\ndisplay(HTML('<b>b</b>'))",
        "1 / 0",
        "import sys; print('to stderr', file=sys.stderr)",
        "x",
    )
    assert r["status"] == "ok" and r["flags"] == [] and r["clean"] is True
    first, html, div, err, last = r["cells"]
    assert first["outputs"][0] == {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    assert first["outputs"][1]["data"] == {"text/plain": "21"} and first["execution_count"] == 1
    assert html["outputs"][0]["output_type"] == "display_data" and html["outputs"][0]["data"]["text/html"] == "<b>b</b>"
    assert errors(div) == ["ZeroDivisionError"] and "ZeroDivisionError" in "".join(div["outputs"][0]["traceback"])
    assert err["outputs"][0]["name"] == "stderr"
    assert last["outputs"][0]["data"]["text/plain"] == "20" and last["execution_count"] == 5


def test_a_job_starts_as_a_fresh_kernel_would_whatever_the_sandbox_ran_before_it(pool):
    """The sandbox's zygote runs a few cells of its own before any job (studio_sandbox.worker._warm_up): a job sees
    none of them, not in its names, its history or its execution count."""
    first = "print(repr((sorted(k for k in globals() if not k.startswith('__')), In, _)))"
    r = run(pool, first, "_ih[-1]")
    assert r["status"] == "ok", r
    names, history, last = eval(text(r["cells"][0]))  # noqa: S307 -- our own job's printed lists
    assert not {"_f", "_y"} & set(names) and last == "", names
    assert history == ["", first], history
    assert r["cells"][0]["execution_count"] == 1 and r["cells"][1]["execution_count"] == 2


def test_a_job_reports_the_cpu_seconds_its_processes_used(pool):
    """What the benchmark prints per submission (and the service keeps): the student's process and its judge, reaped
    by the sandbox's zygote. A job that spins for about 0.6 s of CPU says so; one that sleeps uses almost none."""
    busy = run(pool, "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass")
    idle = run(pool, "import time\ntime.sleep(0.6)")
    assert busy["status"] == idle["status"] == "ok"
    assert busy["cpu_seconds"] >= 0.5 and idle["cpu_seconds"] < busy["cpu_seconds"] - 0.3, (busy, idle)


def test_jobs_in_one_sandbox_cannot_see_or_touch_each_other(pool):
    first = run(
        pool,
        (
            "import os, subprocess, time\n"
            "open('/tmp/left-behind', 'w').write('secret of job 1')\n"
            "open('/dev/shm/shared', 'w').write('secret of job 1')\n"
            "open(os.path.expanduser('~/mine'), 'w').write('secret of job 1')\n"
            "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
            "print(os.getuid(), os.path.expanduser('~'))"
        ),
    )
    uid1, home1 = text(first["cells"][0]).split()
    assert first["clean"] is True
    second = run(
        pool,
        (
            "import os\n"
            f"print(os.getuid(), os.path.exists('/tmp/left-behind'), os.path.exists('/dev/shm/shared'), "
            f"os.path.exists('{home1}'), os.listdir('/tmp'))\n"
            "print([p for p in os.listdir('/proc')\n"
            "       if p.isdigit() and open(f'/proc/{p}/cmdline').read().startswith('sleep')])"
        ),
    )
    line1, line2 = text(second["cells"][0]).splitlines()
    uid2, *seen = line1.split(" ", 4)
    assert uid2 != uid1 and int(uid2) >= 200_000, "every job has a uid of its own"
    assert seen[:3] == ["False", "False", "False"], line1
    assert line2 == "[]", "the previous job's processes are gone"


def test_a_hidden_stopped_process_left_behind_is_killed(pool):
    """The sandbox kills what a job leaves only when a process of its uid is left: one that made itself not
    dumpable (its /proc folder then belongs to root), stopped itself, and ignores every signal it can is found
    and killed all the same."""
    first = run(
        pool,
        (
            "import ctypes, os, signal\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setsid()\n"
            "    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0\n"
            "    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
            "        signal.signal(s, signal.SIG_IGN)\n"
            "    os.kill(os.getpid(), signal.SIGSTOP)\n"
            "    os._exit(0)\n"
            "print('child', pid)"
        ),
    )
    child = text(first["cells"][0]).split()[1]
    assert first["clean"] is True, first
    second = run(pool, f"import os\nprint(os.path.exists('/proc/{child}'))")
    assert text(second["cells"][0]).strip() == "False"


def test_a_job_cannot_reach_the_server_that_runs_it(pool):
    r = run(
        pool,
        (
            "import os, signal\n"
            "ppid = os.getppid()\n"
            "for attempt in (lambda: open(f'/proc/{ppid}/mem', 'rb').read(1), lambda: os.kill(ppid, signal.SIGKILL),\n"
            "                lambda: os.kill(1, signal.SIGKILL), lambda: os.setuid(0), lambda: open('/etc/x', 'w')):\n"
            "    try:\n"
            "        attempt(); print('ALLOWED')\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__)\n"
        ),
    )
    assert "ALLOWED" not in text(r["cells"][0]), text(r["cells"][0])
    after = run(pool, "print('the server still serves')")
    assert after["cells"][0]["outputs"][0]["text"] == "the server still serves\n"


def test_no_network(pool):
    r = run(
        pool,
        (
            "import socket\n"
            "s = socket.socket(); s.settimeout(3)\n"
            "try:\n    s.connect(('1.1.1.1', 80)); print('CONNECTED')\n"
            "except OSError as e:\n    print('refused', e.errno)\n"
            "print(sorted(n for _, n in socket.if_nameindex()))"
        ),
    )
    out = text(r["cells"][0])
    assert "CONNECTED" not in out and "['lo']" in out, out


def test_infinite_loop_is_stopped_and_the_next_cells_still_run(pool):
    r = run(pool, "while True: pass", "print('next')", timeout=2)
    assert errors(r["cells"][0]) == ["CellTimeoutError"] and text(r["cells"][1]) == "next\n"


def test_a_loop_that_swallows_the_timeout_is_killed_from_outside(pool):
    r = run(
        pool,
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
        "print('never')",
        timeout=1,
    )
    assert r["status"] == "timeout" and len(r["cells"]) == 1 and errors(r["cells"][0]) == ["CellTimeoutError"]
    assert r["clean"] is True


@pytest.mark.parametrize(
    "code,status",
    [
        ("import os; os._exit(0)", "crashed"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed"),
        ("raise SystemExit(1)", "ok"),  # IPython turns sys.exit() into an error output; the notebook goes on
    ],
)
def test_ending_the_program_is_reported_not_fatal(pool, code, status):
    r = run(pool, code, "print('after')")
    assert r["status"] == status
    if status == "crashed":
        assert len(r["cells"]) == 1 and errors(r["cells"][0]) == ["DeadKernelError"]
        assert "signal" in r["reason"] or "exit code" in r["reason"]
    else:
        assert errors(r["cells"][0]) == ["SystemExit"] and text(r["cells"][1]) == "after\n"
    assert run(pool, "print('next job')")["cells"][0]["outputs"][0]["text"] == "next job\n"


def test_memory_hog_and_fork_bomb_stay_inside_their_job(pool):
    hog = run(pool, "x = bytearray(2 * 2**30)", "print('alive')")
    assert errors(hog["cells"][0]) == ["MemoryError"] and text(hog["cells"][1]) == "alive\n"
    bomb = run(pool, "import os\nwhile True:\n    os.fork()", "print('alive')", timeout=5)
    assert errors(bomb["cells"][0]) == ["BlockingIOError"], "fork() fails at the job's process limit"
    assert bomb["clean"] is True
    assert run(pool, "print('next job')")["cells"][0]["outputs"][0]["text"] == "next job\n"


def test_huge_output_is_cut(pool):
    r = run(pool, "for i in range(10**6):\n    print('x' * 100)", timeout=20)
    out = text(r["cells"][0])
    assert len(out) < 1_100_000 and "output cut" in out
    assert r["flags"] == ["output cut: cell 1: more output than one cell may keep"], r["flags"]


def test_cheats_on_what_tests_rely_on_are_flagged_and_builtins_restored(pool):
    r = run(pool, "import builtins\nbuiltins.abs = lambda x: 0", "assert abs(-3) == 3", grade=(1,))
    assert "Python's built-in `abs` was replaced" in r["flags"] and errors(r["cells"][1]) == []
    r = run(pool, "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", "assert False", grade=(1,))
    assert any("exception handler" in f for f in r["flags"])
    r = run(pool, "import sys\nsys.settrace(lambda *a: None)", "assert True", grade=(1,))
    assert any("trace" in f for f in r["flags"])
    clean = run(pool, "def f(x):\n    return abs(x)", "assert f(-2) == 2", grade=(1,))
    assert clean["flags"] == []


def test_hidden_tests_are_not_in_the_job_while_student_code_runs(pool):
    # Earlier jobs sent that test too: neither they nor the coming test cell may be anywhere in this job's memory.
    run(pool, "print('an earlier student')", "assert True  # HIDDEN-MARKER-42", grade=(1,))
    r = run(
        pool,
        (
            "import gc\n"
            "needle = 'HIDDEN-' + 'MARKER-42'  # built here, so this cell's own source does not hold it\n"
            "def holds(o):\n"
            "    items = o.values() if isinstance(o, dict) else o\n"
            "    return any(isinstance(v, str) and needle in v and v is not needle for v in items)\n"
            "print(sum(1 for o in gc.get_objects() if isinstance(o, (dict, list, tuple)) and holds(o)))"
        ),
        "assert True  # HIDDEN-MARKER-42",
        grade=(1,),
    )
    assert text(r["cells"][0]) == "0\n", "the test cell is sent only when its turn comes"
    assert r["cells"][1]["outputs"] == []


def test_strict_mode_uses_a_fresh_sandbox_per_submission(learner_image):
    strict = SandboxPool(SandboxSpec(image=learner_image), size=1, mode="strict")
    try:
        names = []
        for _ in range(2):
            name = strict.idle.queue[0].name
            r = strict.run({"cells": [{"source": "import os; print(os.getpid())"}], "timeout": 10}, timeout=120)
            assert r["status"] == "ok"
            names.append(name)
        assert names[0] != names[1]
        ps = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
        for _ in range(50):
            if names[0] not in ps:
                break
            time.sleep(0.2)
            ps = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
        assert names[0] not in ps, "a strict sandbox is thrown away after its submission"
    finally:
        strict.close()


def test_the_image_holds_no_solutions_or_hidden_tests(learner_image):
    found = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "0",
            learner_image,
            "grep",
            "-rlE",
            "BEGIN (HIDDEN TESTS|SOLUTION)",
            "/srv",
            "/home",
            "/etc",
            "/root",
        ],
        capture_output=True,
        text=True,
    )
    assert found.returncode == 1 and found.stdout == "", found.stdout
    ls = ["docker", "run", "--rm", "--network", "none", learner_image, "ls", "/srv/content/intro-python"]
    listed = subprocess.run(ls, capture_output=True, text=True, check=True).stdout.split()
    assert "lessons" in listed and "source" not in listed


def test_everything_that_crosses_from_the_sandbox_is_bounded(pool):
    """Attack: outputs that are not stdout, tens of MB each (a traceback, display metadata, many mid-sized
    outputs), and a raw message of 40 MB with no end written straight to the job's socket. Each is cut with a
    reason in the flags, an error stays an error, and the next job is graded as usual."""
    import json

    r = run(
        pool,
        ("raise ValueError('x' * 30_000_000)"),
        (
            "from IPython.display import display\n"
            "display({'text/plain': 'small'}, metadata={'huge': 'y' * 30_000_000}, raw=True)"
        ),
        (
            "from IPython.display import display\n"
            "for i in range(12):\n"
            "    display({'text/plain': str(i) * 900_000}, raw=True)"
        ),
        "print('still here')",
        job_timeout=120,
    )
    assert r["status"] == "ok", r["reason"]
    traceback, metadata, many, after = r["cells"]
    assert errors(traceback) == ["ValueError"], "an error stays an error: a test's verdict depends on it"
    assert len(json.dumps(traceback)) < 100_000
    assert "output cut" in text(metadata) and len(json.dumps(metadata)) < 10_000
    assert len(json.dumps(r["cells"])) < 9 * 2**20, "all outputs of one job together are capped"
    assert "output cut" in text(many) and text(after) == "still here\n"
    cut = [f for f in r["flags"] if f.startswith("output cut")]
    assert any("cell 1" in f for f in cut) and any("cell 2" in f for f in cut) and any("cell 3" in f for f in cut)

    flood = run(
        pool,
        (
            "import os, socket, stat\n"
            "for fd in range(3, 64):\n"
            "    try:\n"
            "        if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
            "            s = socket.socket(fileno=os.dup(fd))\n"
            "            s.setblocking(True)\n"
            "            s.sendall(b'z' * 40_000_000)\n"
            "    except OSError:\n"
            "        pass\n"
        ),
        job_timeout=120,
    )
    assert flood["status"] == "crashed" and "MiB in one message" in flood["reason"], flood
    assert any("output cut" in f for f in flood["flags"])
    assert text(run(pool, "print('next job')")["cells"][0]) == "next job\n"


IMAGE_CONTENTS = r"""
import importlib.util, json
from nbgrader.apps.baseapp import NbGrader
from traitlets.utils.importstring import import_item

app = NbGrader()
app.initialize([])
steps = list(app.config.Autograde.autograde_preprocessors) + list(app.config.GenerateFeedback.preprocessors)
try:
    import_item(steps[0])().preprocess(None, {})
    refused = ""
except RuntimeError as e:
    refused = str(e)
found = {m: importlib.util.find_spec(m) is not None for m in ("studio_sandbox", "studio_grader", "studio_hub",
                                                              "studio_portal", "jupyterhub_config", "django")}
print(json.dumps({"found": found, "steps": steps, "refused": refused}))
"""


def test_the_learner_image_holds_the_sandbox_and_nothing_of_the_trusted_side(learner_image):
    """What runs in a grading sandbox or a learner's container installs without the trusted side: the image has
    studio_sandbox (the worker and its judge) and nbgrader for learners, not the grading service, the hub or the
    portal; and its nbgrader, lacking studio-grader, refuses to autograde rather than run stock nbgrader's steps."""
    import json

    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--runtime",
            "runsc",
            "--network",
            "none",
            learner_image,
            "python",
            "-c",
            IMAGE_CONTENTS,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["found"] == {
        "studio_sandbox": True,
        "studio_grader": False,
        "studio_hub": False,
        "studio_portal": False,
        "jupyterhub_config": False,
        "django": False,
    }
    assert set(got["steps"]) == {"studio_ext.graded_elsewhere.GradedElsewhere"}
    assert "grading service" in got["refused"]

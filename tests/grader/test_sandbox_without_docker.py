"""The grading sandbox on a machine without Docker (the embedded default): gVisor's runsc on its own, or bubblewrap,
around the same worker.

Every guarantee the gVisor container's tests check is checked on these too (tests/docker's ``pool`` fixture runs
all three). Here is what differs: they are built from this machine's own system rather than an image, so what a job
can see of the machine is checked against the real machine; under bubblewrap a job's system calls reach this
machine's kernel, so which calls it may make and which uids it runs as are checked too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the bubblewrap grading sandbox needs root")


def run(pool, *cells: str, timeout: float = 10) -> dict:
    job = {
        "id": "t",
        "timeout": timeout,
        "job_timeout": 60,
        "limits": {"memory_mib": 256, "processes": 8},
        "cells": [{"source": src, "grade": False} for src in cells],
    }
    return pool.run(job, timeout=120)


def printed(result: dict, cell: int = 0) -> str:
    outputs = result["cells"][cell]["outputs"]
    return "".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}" for o in outputs)


def _pool(engine: str):
    from studio_grader.sandbox import SandboxPool, SandboxSpec, engine_problem

    from tests.docker.conftest import ensure_runsc

    if engine == "runsc":
        ensure_runsc()
    if problem := engine_problem(engine):
        pytest.fail(f"the {engine} grading sandbox cannot run here: {problem}")
    return SandboxPool(SandboxSpec(engine=engine, job_memory_mib=256, memory_mib=768), size=1)


@pytest.fixture(scope="module", params=["bwrap", "runsc"])
def pool(request):
    p = _pool(request.param)
    yield p
    p.close()


@pytest.fixture(scope="module")
def bwrap_pool():
    p = _pool("bwrap")
    yield p
    p.close()


def test_a_job_sees_nothing_of_the_machine_but_the_system_and_the_python_it_runs(pool):
    venv = os.path.realpath(os.path.join(os.path.dirname(os.__file__), "..", "..", ".."))
    r = run(
        pool,
        "import os\n"
        "for path in ['/home', '/root', '/var', '/srv', '/run', '/mnt', '/media', "
        f"{str(ROOT / 'course-content')!r}, {str(ROOT / 'var')!r}, {str(ROOT / 'Makefile')!r}]:\n"
        "    print(path, os.path.exists(path))\n"
        "print('processes', len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
        "print('hostname', os.uname().nodename)\n",
        "try:\n    open('/etc/shadow').read()\nexcept OSError as e:\n    print(type(e).__name__)",
        f"import os\nos.makedirs('/tmp/x', exist_ok=True)\ntry:\n    open({venv + '/planted.py'!r}, 'w')\n"
        "except OSError as e:\n    print(type(e).__name__)",
    )
    seen = printed(r)
    assert all(line.endswith("False") for line in seen.splitlines()[:10]), seen
    assert int(seen.split("processes ")[1].split()[0]) <= 6, seen  # the sandbox's own: no host process is visible
    assert "hostname sandbox" in seen
    assert printed(r, 1).strip() == "PermissionError"
    assert printed(r, 2).strip() in ("PermissionError", "OSError")  # the environment is read-only to jobs
    if pool.spec.engine == "runsc":  # and the kernel it talks to is gVisor's, not this machine's
        assert printed(run(pool, "import os\nprint(os.uname().release)")).strip() != os.uname().release


def test_system_calls_that_escape_or_attack_the_kernel_are_refused(bwrap_pool):
    r = run(
        bwrap_pool,
        "import ctypes, errno, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(name, nr, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    rc = libc.syscall(nr, *args)\n"
        "    print(name, rc, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))\n"
        "call('unshare-user', 272, 0x10000000)\n"
        "call('unshare-net', 272, 0x40000000)\n"
        "call('ptrace', 101, 0, 0, 0, 0)\n"
        "call('keyctl', 250, 0, 0, 0, 0)\n"
        "call('bpf', 321, 0, 0, 0)\n"
        "call('io_uring_setup', 425, 1, 0)\n"
        "call('userfaultfd', 323, 0)\n"
        "call('perf_event_open', 298, 0, 0, -1, -1, 0)\n"
        "call('clone-newuser', 56, 0x10000000 | 17, 0, 0, 0, 0)\n"
        "call('clone3', 435, 0, 0)\n"
        "call('mount', 165, 0, 0, 0, 0, 0)\n",
        # What notebooks do still works: processes (clone without new namespaces), threads, pipes.
        "import subprocess, threading\n"
        "print(subprocess.run(['echo', 'child ran'], capture_output=True, text=True).stdout.strip())\n"
        "t = threading.Thread(target=print, args=('thread ran',))\nt.start()\nt.join()",
    )
    calls = {line.split()[0]: line.split()[1:] for line in printed(r).splitlines()}
    for name in ("unshare-user", "unshare-net", "ptrace", "keyctl", "bpf", "io_uring_setup", "userfaultfd"):
        assert calls[name] == ["-1", "EPERM"], (name, calls)
    assert calls["perf_event_open"] == ["-1", "EPERM"] and calls["clone-newuser"] == ["-1", "EPERM"], calls
    assert calls["mount"] == ["-1", "EPERM"], calls
    assert calls["clone3"] == ["-1", "ENOSYS"], calls  # the C library then uses clone, whose flags are checked
    assert "child ran" in printed(r, 1) and "thread ran" in printed(r, 1)


def test_this_machines_loopback_and_its_abstract_sockets_are_out_of_reach(pool):
    """The hub, portal and services listen on 127.0.0.1: a job has a network namespace with nothing in it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(b"\0studio-test-abstract")
    abstract.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    port = server.getsockname()[1]
    try:
        r = run(
            pool,
            "import socket\n"
            f"targets = [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_UNIX, b'\\0studio-test-abstract')]\n"
            "for family, address in targets:\n"
            "    s = socket.socket(family)\n"
            "    s.settimeout(2)\n"
            "    try:\n"
            "        s.connect(address)\n"
            "        print('reached', address)\n"
            "    except OSError as e:\n"
            "        print('refused', type(e).__name__)\n",
        )
    finally:
        server.close()
        abstract.close()
    assert printed(r).count("refused") == 2 and "reached" not in printed(r), printed(r)
    assert not accepted


def test_each_sandbox_has_uids_of_its_own_and_is_replaced_when_they_run_out(monkeypatch):
    """Two sandboxes at once never give their jobs the same uid (a uid's process limit and signals are the machine's
    here); a sandbox whose block of uids is used up says so and the next job runs in a new one."""
    from studio_grader import sandbox
    from studio_grader.sandbox import SandboxPool, SandboxSpec

    monkeypatch.setattr(sandbox, "BLOCK_UIDS", 6)  # room for one job (its student's and judge's uids) and no more
    spec = SandboxSpec(engine="bwrap", job_memory_mib=256, prefix="uid-test")
    first, second = SandboxPool(spec, size=1), SandboxPool(spec, size=1)
    try:
        uid = "import os\nprint(os.getuid())"
        a, b = int(printed(run(first, uid))), int(printed(run(second, uid)))
        assert a != b and abs(a - b) >= 6, (a, b)
        assert all(u >= sandbox.FIRST_BLOCK_UID for u in (a, b))
        again = run(first, uid)  # the first sandbox's block was used up: this ran in a new one
        assert again["status"] == "ok" and int(printed(again)) not in (a, b), printed(again)
    finally:
        first.close()
        second.close()
    # Nothing of either sandbox is left on the machine.
    left = subprocess.run(["ps", "-o", "pid=,args=", "-u", f"{a},{b}"], capture_output=True, text=True).stdout
    assert left == "", left


def test_auto_chooses_runsc_then_bubblewrap_when_docker_cannot_run_the_image(monkeypatch, tmp_path):
    from studio_grader import sandbox
    from studio_grader.sandbox import choose_engine, describe_engine

    from tests.docker.conftest import ensure_runsc

    # Where runsc and the fork guard are there (this machine, after scripts/setup.sh): gVisor without Docker.
    ensure_runsc()
    engine, why = choose_engine("studio-no-such-image:never", "runsc")
    assert engine == "runsc" and ("studio-no-such-image" in why or "Docker" in why), (engine, why)
    assert "gVisor" in describe_engine(engine) and "without Docker" in describe_engine(engine)
    # Without the fork guard (no gcc when it was set up): bubblewrap, saying why not runsc.
    monkeypatch.setattr(sandbox, "PRELOAD_DIR", tmp_path)
    engine, why = choose_engine("studio-no-such-image:never", "runsc")
    assert engine == "bwrap" and "fork guard" in why, why
    assert "bubblewrap" in describe_engine(engine) and "seccomp" in describe_engine(engine)


def test_runsc_bundles_of_sandboxes_that_are_gone_are_swept_and_running_ones_kept():
    """A grading service killed (or a demo stopped) before it removed its runsc sandboxes: runsc's --attached
    sandboxes die with it, their bundles stay in /run until a later start sweeps them; a running one's stays."""
    import time

    from studio_grader import sandbox

    p = _pool("runsc")
    try:
        assert run(p, "print(1)")["status"] == "ok"
        listed = subprocess.run(
            ["runsc", "--root", str(sandbox.RUNSC_DIR / "state"), "list", "-quiet"], capture_output=True, text=True
        ).stdout.split()
        running = [b for b in (sandbox.RUNSC_DIR / "bundles").iterdir() if b.name in listed]
        assert running  # this test's own sandbox at least
        stale = sandbox.RUNSC_DIR / "bundles" / "studio-grade-left-behind"
        (stale / "rootfs").mkdir(parents=True, exist_ok=True)
        fresh = sandbox.RUNSC_DIR / "bundles" / "studio-grade-about-to-start"
        fresh.mkdir(exist_ok=True)
        old = time.time() - 3600
        for path in (stale, *running):
            os.utime(path, (old, old))
        assert sandbox.sweep_runsc_bundles() >= 1
        assert not stale.exists() and fresh.exists() and all(b.exists() for b in running)
        assert run(p, "print(2)")["status"] == "ok"  # the running sandbox still answers
    finally:
        p.close()
        shutil.rmtree(sandbox.RUNSC_DIR / "bundles" / "studio-grade-about-to-start", ignore_errors=True)

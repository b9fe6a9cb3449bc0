"""The grading sandbox's fork-server: ``python -m studio_grader.worker`` as root inside a gVisor container.

It reads jobs (one submission notebook each) as JSON lines on stdin and answers each with one JSON line on
stdout. IPython is imported and a shell built once, before any job; every job then runs in a child forked
from that state:

- under a uid of its own (never reused within the sandbox's life), with no capabilities, limits on memory,
  processes, CPU time, file size and open files, in a fresh private folder (``$HOME`` and ``$TMPDIR``);
- it is forked from a zygote process that never holds any job's data (``Zygote``), and its cells are handed
  to it one at a time over a socket, so neither the tests that follow (hidden ones included) nor earlier
  students' work are in its memory while the student's code runs;
- when the job ends, however it ends, every process of that uid is killed and every file it could have
  written (/tmp, /dev/shm) is removed before the next job starts, and that is checked.

The parent never runs student code; it enforces each cell's time limit from outside as well (the child's own
alarm is the first line, a kill is the second). ``--once`` serves one job and exits: the strict mode, a fresh
sandbox per submission.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

FIRST_UID = 200_000
GRACE = 5.0  # seconds past a cell's own limit before the parent kills the job
SCRATCH = ("/tmp", "/dev/shm")
MiB = 2**20


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


class _Lines:
    """Newline-delimited JSON from a socket, with a deadline per message."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer = sock, b""

    def read(self, deadline: float) -> dict | None:
        """The next message; None if the peer closed; TimeoutError past ``deadline``."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:  # an OSError too, but not the end of the peer
                raise
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            return None


# --- the child: one submission ------------------------------------------------------------------------------


def _become_job(uid: int, home: Path, limits: dict) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the host's channel is the parent's stdin/stdout: out of reach from here
        os.dup2(devnull, fd)
    os.setsid()
    memory = int(limits.get("memory_mib", 1024)) * MiB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.get("processes", 8),) * 2)
    cpu = int(limits.get("cpu_seconds", 120))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * MiB, 64 * MiB))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # from here on: no capabilities, no way back
    os.chdir(home)
    os.environ.update(HOME=str(home), TMPDIR=str(home), USER="student", LOGNAME="student")
    # Read by the image's preloaded fork guard at every fork() (gVisor does not enforce RLIMIT_NPROC).
    os.environ["STUDIO_SESSION_PROCESS_LIMIT"] = str(limits.get("processes", 8))


def _child(sock: socket.socket, shell, uid: int, home: Path, limits: dict) -> None:
    from .executor import Watch, run_cell

    keep = sock.fileno()
    os.closerange(3, keep)  # the parent's copy of the host channel among them
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    _become_job(uid, home, limits)
    lines = _Lines(sock)
    watch = Watch(shell)
    while True:
        message = lines.read(time.monotonic() + 3600)
        if not message or "source" not in message:
            return
        flags: list[str] = []
        if message.get("grade"):
            # A test is about to run: say what was changed that tests rely on, and put it back.
            flags = watch.changes()
            watch.restore()
        outputs, count, error = run_cell(shell, message["source"], float(message.get("timeout", 30)))
        _send(sock, {"seq": message.get("seq"), "outputs": outputs, "execution_count": count, "error": error,
                     "flags": flags})  # fmt: skip


# --- the parent: jobs in, results out ------------------------------------------------------------------------


class Zygote:
    """The process every job is forked from: IPython imported and a shell built, and never a job's data in it.

    The server reads jobs (with every test, hidden ones included, and other students' code before them); a job
    forked from the server would carry all that in its memory. So the server forks this process first, before any
    job, and asks it over a socket for each job's process (getting back its pid and the job's socket, passed as a
    file descriptor), for a job's exit status, and for the kill of a job's uid.
    """

    def __init__(self, shell):
        self.sock, theirs = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover -- runs in the zygote
            self.sock.close()
            try:
                _zygote(theirs, shell)
            finally:
                os._exit(0)
        theirs.close()
        self.lines = _Lines(self.sock)

    def call(self, request: dict) -> tuple[dict, list[int]]:
        _send(self.sock, request)
        if request["op"] == "spawn":
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 1)
            return json.loads(data), fds
        reply = self.lines.read(time.monotonic() + 30)
        if reply is None:
            raise RuntimeError("the grading sandbox's zygote is gone")
        return reply, []


def _zygote(sock: socket.socket, shell) -> None:
    lines = _Lines(sock)
    while True:
        request = lines.read(time.monotonic() + 10**9)
        if request is None:
            return
        op = request["op"]
        if op == "spawn":
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # pragma: no cover -- the job
                sock.close()
                mine.close()
                try:
                    _child(theirs, shell, request["uid"], Path(request["home"]), request["limits"])
                finally:
                    os._exit(0)
            theirs.close()
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [mine.fileno()])
            mine.close()
        elif op == "status":  # how a job's process ended (reaping it), waiting at most a moment
            _send(sock, {"reason": _how_it_ended(request["pid"], wait=float(request.get("wait", 2)))})
        elif op == "kill":  # every process of a job's uid, and only those
            killer = os.fork()
            if killer == 0:  # pragma: no cover
                try:
                    os.setuid(request["uid"])
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
            _reap()
            _send(sock, {"ok": True})


class Server:
    def __init__(self):
        from .executor import new_shell

        self.zygote = Zygote(new_shell())  # before any job is read
        self.jobs = 0
        self.own = {Path(p) / name for p in SCRATCH if Path(p).is_dir() for name in os.listdir(p)}

    def run(self, job: dict) -> dict:
        self.jobs += 1
        uid = FIRST_UID + self.jobs
        home = Path("/tmp") / f"job-{self.jobs}"
        home.mkdir(mode=0o700)
        os.chown(home, uid, uid)
        t0 = time.monotonic()
        spawn = {"op": "spawn", "uid": uid, "home": str(home), "limits": job.get("limits", {})}
        reply, fds = self.zygote.call(spawn)
        pid, sock = reply["pid"], socket.socket(fileno=fds[0])
        try:
            result = self._drive(sock, pid, job)
        finally:
            sock.close()
            clean = self._end(uid, pid, home)
        result.update(id=job.get("id"), seconds=round(time.monotonic() - t0, 3), clean=clean)
        return result

    def _drive(self, sock: socket.socket, pid: int, job: dict) -> dict:
        lines = _Lines(sock)
        cells, flags = [], []
        status, reason = "ok", ""
        deadline_job = time.monotonic() + float(job.get("job_timeout", 300))
        for seq, cell in enumerate(job["cells"]):
            timeout = float(cell.get("timeout", job.get("timeout", 30)))
            try:
                message = {"seq": seq, "source": cell["source"], "timeout": timeout, "grade": bool(cell.get("grade"))}
                _send(sock, message)
                deadline = min(time.monotonic() + timeout + GRACE, deadline_job)
                reply = lines.read(deadline)
                # Copies of the job made by fork() share its socket and may answer for a cell long done: skip them.
                while reply is not None and reply.get("seq") != seq:
                    reply = lines.read(deadline)
            except TimeoutError:
                status = "timeout"
                reason = ("stopped: the submission's total time ran out" if time.monotonic() >= deadline_job
                          else f"stopped: no answer {GRACE:.0f} s after the cell's {timeout:.0f} s limit")  # fmt: skip
                cells.append(_error_cell("CellTimeoutError", reason))
                break
            except OSError:
                reply = None
            if reply is None:
                status, reason = "crashed", self.zygote.call({"op": "status", "pid": pid})[0]["reason"]
                cells.append(_error_cell("DeadKernelError", reason))
                break
            flags += [f for f in reply.get("flags", []) if f not in flags]
            cells.append({"outputs": reply["outputs"], "execution_count": reply["execution_count"]})
        return {"status": status, "reason": reason, "cells": cells, "flags": flags}

    def _end(self, uid: int, pid: int, home: Path) -> bool:
        """Kill every process of ``uid`` and remove every file a job could have left; True once verified."""
        for _ in range(50):
            self.zygote.call({"op": "kill", "uid": uid})
            self.zygote.call({"op": "status", "pid": pid, "wait": 0})  # reap the job's own process
            _reap()
            if not _processes_of(uid):
                break
            time.sleep(0.02)
        shutil.rmtree(home, ignore_errors=True)
        for scratch in SCRATCH:
            if Path(scratch).is_dir():
                for entry in Path(scratch).iterdir():
                    if entry not in self.own:
                        _remove(entry)
        left = [e for s in SCRATCH if Path(s).is_dir() for e in Path(s).iterdir() if e not in self.own]
        return not _processes_of(uid) and not left


def _error_cell(ename: str, evalue: str) -> dict:
    error = {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}
    return {"outputs": [error], "execution_count": None}


def _how_it_ended(pid: int, wait: float = 2.0) -> str:
    """Why a job's process is gone, reaping it; waits up to ``wait`` seconds for it to end."""
    deadline = time.monotonic() + wait
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "the program ended the kernel"
        if done:
            break
        if time.monotonic() >= deadline:
            return "the kernel stopped answering"
        time.sleep(0.02)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        why = {"SIGKILL": " (out of memory or CPU time?)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (crash)"}
        return f"the kernel died: signal {sig}{why.get(sig, '')}"
    return f"the program ended the kernel (exit code {os.WEXITSTATUS(status)}), e.g. by os._exit() or a crash"


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                pass
    return pids


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Grading sandbox fork-server (JSON lines on stdin/stdout)")
    parser.add_argument("--once", action="store_true", help="serve one job, then exit (strict mode)")
    args = parser.parse_args(argv)
    if os.environ.get("STUDIO_GRADER_SANDBOX") != "1" or os.getuid() != 0:
        # It empties /tmp and /dev/shm between jobs and runs code as other uids: only ever inside a sandbox.
        raise SystemExit("studio_grader.worker runs only as root inside a grading sandbox (STUDIO_GRADER_SANDBOX=1)")
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing but results on the channel
    server = Server()
    print(json.dumps({"ready": True, "pid": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            result = server.run(job)
        except Exception as e:  # noqa: BLE001 -- a broken job is answered, the server goes on
            result = {"id": None, "status": "error", "reason": f"{type(e).__name__}: {e}", "cells": [], "flags": []}
        print(json.dumps(result), file=out, flush=True)
        if args.once:
            break


if __name__ == "__main__":
    main()

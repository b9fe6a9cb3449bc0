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
# What crosses from a job to the parent, and on to the grading service, is bounded (the job writes its replies: it
# may send anything). One message from the job; one output kept (text, rich data, traceback and metadata
# together); everything one submission's cells keep, in all.
MAX_MESSAGE = 16 * MiB
MAX_OUTPUT = 1 * MiB
MAX_JOB_OUTPUT = 8 * MiB


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


class MessageTooLarge(Exception):
    pass


class _Lines:
    """Newline-delimited JSON from a socket, with a deadline per message and a cap on its size."""

    def __init__(self, sock: socket.socket, limit: int = MAX_MESSAGE):
        self.sock, self.buffer, self.limit = sock, b"", limit

    def read(self, deadline: float) -> dict | None:
        """The next message; None if the peer closed; TimeoutError past ``deadline``; MessageTooLarge past the
        cap (read no further: the peer is not to be trusted with the rest either)."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > self.limit:
                raise MessageTooLarge(f"more than {self.limit // MiB} MiB in one message")
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
    from .executor import TRUNCATED, Watch, run_cell

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
        # Cut here already, so that a large output costs this cell its output, not the job its remaining cells;
        # the parent cuts again (and stops a job whose message is too large): this process is the student's.
        outputs, cut = bounded_outputs(outputs, MAX_JOB_OUTPUT)
        if any(TRUNCATED.split("{limit}")[0].strip() in str(o.get("text", "")) for o in outputs):
            cut.append("more output than one cell may keep")
        _send(sock, {"seq": message.get("seq"), "outputs": outputs, "execution_count": count, "error": error,
                     "flags": flags, "cut": cut})  # fmt: skip


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
        room = MAX_JOB_OUTPUT
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
            except MessageTooLarge as e:
                status, reason = "crashed", f"stopped: cell {seq + 1} sent {e} (outputs are capped)"
                cells.append(_error_cell("OutputTooLarge", reason))
                flags.append(f"output cut: {reason}")
                break
            if reply is None:
                status, reason = "crashed", self.zygote.call({"op": "status", "pid": pid})[0]["reason"]
                cells.append(_error_cell("DeadKernelError", reason))
                break
            flags += [str(f)[:500] for f in reply.get("flags", []) if f not in flags][:50]
            outputs, cut = bounded_outputs(reply.get("outputs"), room)
            cut = [str(c)[:200] for c in (reply.get("cut") or [])[:20] if isinstance(reply.get("cut"), list)] + cut
            room -= sum(len(json.dumps(o)) for o in outputs)
            flags += [f"output cut: cell {seq + 1}: {why}" for why in cut]
            count = reply.get("execution_count")
            cells.append({"outputs": outputs, "execution_count": count if isinstance(count, int) else None})
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


def bounded_outputs(outputs, room: int) -> tuple[list[dict], list[str]]:
    """A cell's outputs as the job sent them, each within MAX_OUTPUT and all within ``room`` bytes (of JSON);
    and what was cut, why. An error stays an error (a test's verdict depends on it), its text shortened; any other
    output over the limit becomes a note saying what was there."""
    kept, cut = [], []
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        limit = min(MAX_OUTPUT, room)
        # The text's length first (a lower bound of its JSON): a 30 MB string is never encoded to be measured.
        size = _text_length(output)
        if size <= limit:
            size = len(json.dumps(output))
        if size <= limit:
            kept.append(output)
            room -= size
            continue
        kind = str(output.get("output_type", "output"))[:40]
        if kind == "error":
            short = {"output_type": "error", "ename": str(output.get("ename", ""))[:200],
                     "evalue": str(output.get("evalue", ""))[:2000],
                     "traceback": [str(t)[:2000] for t in (output.get("traceback") or [])[-20:]]}  # fmt: skip
            kept.append(short)
            room -= len(json.dumps(short))
        else:
            note = {"output_type": "stream", "name": "stderr",
                    "text": f"[output cut: one {kind} output of {size} bytes; at most {limit} are kept]\n"}  # fmt: skip
            kept.append(note)
            room -= len(json.dumps(note))
        cut.append(f"one {kind} output of {size} bytes (limit {limit})")
    return kept, cut


def _text_length(value, depth: int = 0) -> int:
    """The characters of the strings in ``value`` (a lower bound of its JSON's length)."""
    if isinstance(value, str):
        return len(value)
    if depth > 20:
        return 0
    if isinstance(value, dict):
        return sum(len(str(k)) + _text_length(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_text_length(v, depth + 1) for v in value)
    return 8


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

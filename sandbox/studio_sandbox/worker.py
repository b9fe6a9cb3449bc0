"""The grading sandbox's fork-server: ``python -m studio_sandbox.worker`` as root inside a gVisor container.

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
import builtins
import gc
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from . import confine

# Jobs' uids: from FIRST_UID on, two a job (the student's, the judge's). In a container they are the container's own;
# the bubblewrap engine gives each sandbox a block of the machine's (STUDIO_SANDBOX_FIRST_UID, STUDIO_SANDBOX_UIDS
# of them), and a sandbox whose block is used up says so with its last result ("retire") and is replaced.
FIRST_UID = int(os.environ.get("STUDIO_SANDBOX_FIRST_UID") or 200_000)
UIDS = int(os.environ.get("STUDIO_SANDBOX_UIDS") or 0)  # 0: no end
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


def _become_job(uid: int, home: Path, limits: dict, groups: tuple[int, ...] = (), workdir: Path | None = None) -> None:
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
    os.setgroups(list(groups))
    os.setgid(uid)
    os.setuid(uid)  # from here on: no capabilities, no way back
    if confine.wanted():  # no kernel of gVisor's between the job and the machine's: fewer system calls
        confine.restrict()
    os.chdir(workdir or home)
    os.environ.update(HOME=str(home), TMPDIR=str(workdir or home), USER="student", LOGNAME="student")
    # Read by the image's preloaded fork guard at every fork() (gVisor does not enforce RLIMIT_NPROC).
    os.environ["STUDIO_SESSION_PROCESS_LIMIT"] = str(limits.get("processes", 8))


def _keep_only(*socks: socket.socket | None) -> None:
    """Close every file descriptor but these (the parent's copy of the host channel among the others)."""
    keep = sorted(s.fileno() for s in socks if s is not None)
    start = 3
    for fd in keep:
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _child(sock: socket.socket, shell, uid: int, home: Path, limits: dict, peer: socket.socket | None = None) -> None:
    from .crossing import Holder, serve
    from .executor import TRUNCATED, Watch, run_cell

    _keep_only(sock, peer)
    _become_job(uid, home, limits)
    lines = _Lines(sock)
    watch = Watch(shell)
    holder = Holder(shell.user_ns)
    while True:
        message = lines.read(time.monotonic() + 3600)
        if message and "serve" in message and peer is not None:
            # A test runs in the judge: answer its requests of the student's objects until it is done.
            timeout = float(message.get("timeout", 30))
            serve(peer, holder, time.monotonic() + timeout + GRACE, per_request=timeout)
            _send(sock, {"seq": message.get("seq"), "served": True, "flags": watch.changes(judged=True)})
            continue
        if not message or "source" not in message:
            return
        flags: list[str] = []
        if message.get("grade"):
            # A test is about to run: say what was changed that tests rely on, and put it back.
            flags = watch.changes()
            watch.restore()
        _number(shell, message)
        outputs, count, error = run_cell(shell, message["source"], float(message.get("timeout", 30)))
        # Cut here already, so that a large output costs this cell its output, not the job its remaining cells;
        # the parent cuts again (and stops a job whose message is too large): this process is the student's.
        outputs, cut = bounded_outputs(outputs, MAX_JOB_OUTPUT)
        if any(TRUNCATED.split("{limit}")[0].strip() in str(o.get("text", "")) for o in outputs):
            cut.append("more output than one cell may keep")
        _send(
            sock,
            {
                "seq": message.get("seq"),
                "outputs": outputs,
                "execution_count": count,
                "error": error,
                "flags": flags,
                "cut": cut,
            },
        )


def _judge(sock: socket.socket, peer: socket.socket, shell, uid: int, home: Path, limits: dict, workdir: Path) -> None:
    """The judge of one submission: runs its test cells, under a uid of its own, in a process no student code ever
    runs in (forked from the zygote, which holds none). What the tests name of the student's work it asks of the
    student's process (``studio_sandbox.crossing``): plain data, or proxies whose calls run there."""
    from .crossing import Judge
    from .executor import _Stream, run_cell
    from .judged import HeldBack, error_output

    _keep_only(sock, peer)
    # It works in the student's folder, in the student's group (that folder is 2770): files a test writes for the
    # student's code to read (temporary ones too), and files that code writes for the test, are readable by both.
    group = workdir.stat().st_gid
    _become_job(uid, home, limits, groups=(group,), workdir=workdir)
    os.umask(0o007)
    _share_temporary_files(workdir, group)
    # Modules come only from folders no job can write (never the working folder, /tmp or /dev/shm): a test's
    # imports, and the judge's own copies of the modules the student's work uses, are the image's.
    sys.path[:] = [p for p in sys.path if _root_only(p)]
    lines = _Lines(sock)
    judge = Judge(peer)
    # Feedback shows only the trusted side's words: what the student's code prints during a test is held back from
    # the cell (the test can capture it), and errors are told in ours (studio_sandbox.judged).
    judge.printed = held = HeldBack(_Stream)
    shell._showtraceback = lambda etype, evalue, stb: shell.outputs.items.append(error_output(evalue))
    injected: dict[str, object] = {}  # names the student's process gave, as given
    forward = _Forward()
    shell.ast_transformers.append(forward)
    shell.user_ns["__studio_set__"], shell.user_ns["__studio_del__"] = judge.set_name, judge.del_name
    while True:
        message = lines.read(time.monotonic() + 3600)
        if message and "imports" in message:  # a setup cell of the instructor's: its imports are the judge's too
            _import_into(shell.user_ns, message["imports"])
            continue
        if not message or "source" not in message:
            return
        timeout = float(message.get("timeout", 30))
        judge.timeout = timeout + 1
        ns = shell.user_ns
        for name, value in list(injected.items()):  # rebound by a test: the test's own from now on
            if ns.get(name) is not value:
                del injected[name]
        try:
            for name in free_names(shell, message["source"]):
                if name in ns and name not in injected:
                    continue
                try:
                    ns[name] = injected[name] = judge.get(name)
                except NameError:
                    ns.pop(name, None)
                    injected.pop(name, None)
            forward.names = set(injected)
            _number(shell, message)
            outputs, count, error = run_cell(shell, message["source"], timeout)
        except Exception as e:  # noqa: BLE001 -- the student's process answered out of turn: the test fails
            outputs, count, error = [error_output(e)], None, True
        finally:
            try:
                _send(peer, {"op": "done"})
            except OSError:
                pass
        outputs, _ = bounded_outputs(outputs + held.note(), MAX_JOB_OUTPUT)
        _send(sock, {"seq": message.get("seq"), "outputs": outputs, "execution_count": count, "error": error})


def _number(shell, message: dict) -> None:
    """The cell's execution count as one kernel running the notebook from the top gives it (two processes run a
    judged notebook's cells, each counting its own)."""
    if type(message.get("count")) is int and message["count"] > 0:
        shell.execution_count = message["count"]


def _import_into(namespace: dict, source: str) -> None:
    """The top-level imports of an instructor's setup cell, made in the judge (from the image's packages only: its
    ``sys.path``); one that fails here is left to the student's process, as before."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    for node in tree.body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level):
            try:
                exec(compile(ast.Module([node], []), "<setup imports>", "exec"), namespace)  # noqa: S102
            except Exception:  # noqa: BLE001,S110 -- not installed in the image: the student's process has it
                pass


def _share_temporary_files(folder: Path, group: int) -> None:
    """In the judge: temporary folders and files a test makes (``tempfile`` makes them its owner's only) are made in
    the student's folder and are the student's group's too, so the student's code can read what the test gives it."""
    import tempfile

    tempfile.tempdir = str(folder)  # tempfile chose its folder once, in the zygote: /tmp
    mkdtemp, mkstemp_inner = tempfile.mkdtemp, tempfile._mkstemp_inner

    def shared_mkdtemp(*args, **kwargs):
        made = mkdtemp(*args, **kwargs)
        os.chown(made, -1, group)
        os.chmod(made, 0o2770)
        return made

    def shared_mkstemp_inner(*args, **kwargs):
        fd, name = mkstemp_inner(*args, **kwargs)
        os.fchown(fd, -1, group)
        os.fchmod(fd, 0o660)
        return fd, name

    tempfile.mkdtemp, tempfile._mkstemp_inner = shared_mkdtemp, shared_mkstemp_inner


class _Forward:
    """IPython AST transformer of the judge: a test cell that rebinds or deletes one of the notebook's names at its
    top level (``del squares`` ... ``squares = orig``) does so in the notebook too, where the student's functions
    look names up: as in one interpreter."""

    def __init__(self):
        import ast

        self.names: set[str] = set()

        class Transformer(ast.NodeTransformer):
            def visit_FunctionDef(self, node):  # another scope: its names are its own
                return node

            visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

            def follow(inner, node, targets, how: str):
                names = [t.id for t in targets if isinstance(t, ast.Name) and t.id in self.names]
                calls = []
                for name in names:
                    args = [ast.Constant(name)] + ([ast.Name(name, ast.Load())] if how == "set" else [])
                    calls.append(ast.Expr(ast.Call(ast.Name(f"__studio_{how}__", ast.Load()), args, [])))
                for call in calls:
                    ast.fix_missing_locations(ast.copy_location(call, node))
                return [node, *calls] if calls else node

            def visit_Delete(inner, node):
                return inner.follow(node, node.targets, "del")

            def visit_Assign(inner, node):
                return inner.follow(node, node.targets, "set")

        self.transformer = Transformer()

    def visit(self, tree):
        return self.transformer.visit(tree)


def _root_only(path: str) -> bool:
    """No job may change ``path`` (a folder or zip of modules) or a folder above it: none is a job's own (jobs' uids
    start at FIRST_UID, without supplementary groups) or writable by everyone."""
    if not path or not os.path.isabs(path):
        return False
    p = Path(path)
    for part in (p, *p.parents):
        try:
            st = part.stat()
        except OSError:
            return False
        if st.st_uid >= FIRST_UID or st.st_mode & 0o002:
            return False
    return True


def free_names(shell, source: str) -> list[str]:
    """The names a cell reads or deletes, but does not import or define (def, class, argument), in the order it
    reads them, without Python's built-ins: what a test may need of the student's work (a name it also assigns may
    be read first: ``orig = squares ... squares = orig``). A cell that does not parse names nothing (running it
    reports the error)."""
    import ast

    try:
        tree = ast.parse(shell.transform_cell(source))
    except (SyntaxError, ValueError):
        return []
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    reads = sorted(
        (n.lineno, n.col_offset, n.id)
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load | ast.Del)
    )
    names: dict[str, None] = {}
    for _, _, name in reads:
        if name not in bound and not hasattr(builtins, name):
            names.setdefault(name, None)
    return list(names)


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
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 2)
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
            judge = request.get("judge")
            student_end, judge_end = socket.socketpair() if judge else (None, None)
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # pragma: no cover -- the job
                sock.close()
                mine.close()
                try:
                    _child(theirs, shell, request["uid"], Path(request["home"]), request["limits"], student_end)
                finally:
                    os._exit(0)
            theirs.close()
            fds, reply = [mine], {"pid": pid}
            if judge:
                judge_mine, judge_theirs = socket.socketpair()
                judge_pid = os.fork()
                if judge_pid == 0:  # pragma: no cover -- the judge
                    sock.close()
                    mine.close()
                    judge_mine.close()
                    student_end.close()
                    try:
                        _judge(
                            judge_theirs,
                            judge_end,
                            shell,
                            judge["uid"],
                            Path(judge["home"]),
                            request["limits"],
                            Path(request["home"]),
                        )
                    finally:
                        os._exit(0)
                judge_theirs.close()
                student_end.close()
                judge_end.close()
                fds.append(judge_mine)
                reply["judge_pid"] = judge_pid
            socket.send_fds(sock, [json.dumps(reply).encode()], [f.fileno() for f in fds])
            for f in fds:
                f.close()
        elif op == "status":  # how a job's process ended (reaping it), waiting at most a moment; its CPU time
            reason, cpu = _how_it_ended(request["pid"], wait=float(request.get("wait", 2)))
            _send(sock, {"reason": reason, "cpu": cpu})
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


def _warm_up(shell) -> None:
    """Run what every job's first cells run (compiling, defining, calling, asserting, a failure told), once, here:
    what IPython sets up on first use is then in the state each job's processes are forked from, not built again
    in each (measured: a job's first cell took 0.03-0.05 s). Kept out of the history and the execution count, and
    nothing of it stays in the namespace jobs see."""
    names = set(shell.user_ns)
    for source in ("def _f(x):\n    return x * 2\n\nassert _f(2) == 4\n_y = _f(1)", "assert _f(1) == 3"):
        shell.run_cell(source, store_history=False, silent=False)
    for name in set(shell.user_ns) - names:
        del shell.user_ns[name]
    shell.outputs = type(shell.outputs)(shell.outputs.limit)


class Server:
    def __init__(self):
        from . import crossing, judged  # noqa: F401 -- imported once here, not in every job's processes

        if confine.wanted():
            import pyseccomp  # noqa: F401 -- loaded once here (it finds libseccomp), applied in every job
        from .executor import new_shell

        shell = new_shell()
        # Every job's processes are forked from this state: objects that stay out of the garbage collector's
        # passes stay shared, where each collection in a job would otherwise copy the pages it visits (a copied
        # page costs a fault in gVisor's sentry: about 10 ms less per process forked, measured).
        _warm_up(shell)
        gc.collect()
        gc.freeze()
        self.zygote = Zygote(shell)  # before any job is read
        self.jobs = 0
        self.cpu: dict[int, float] = {}  # CPU seconds of each reaped job process (and what it reaped), by pid
        self.own = {Path(p) / name for p in SCRATCH if Path(p).is_dir() for name in os.listdir(p)}

    def run(self, job: dict) -> dict:
        self.jobs += 1
        # Two uids a job: the student's, and its judge's (never reused within the sandbox's life).
        uid, judge_uid = FIRST_UID + 2 * self.jobs, FIRST_UID + 2 * self.jobs + 1
        homes = {uid: Path("/tmp") / f"job-{self.jobs}", judge_uid: Path("/tmp") / f"judge-{self.jobs}"}
        for owner, home in homes.items():
            home.mkdir(mode=0o700)
            os.chown(home, owner, owner)
        if job.get("judge"):  # the judge works there too, in its group (files a test hands to the student's code)
            os.chmod(homes[uid], 0o2770)
        t0 = time.monotonic()
        spawn = {"op": "spawn", "uid": uid, "home": str(homes[uid]), "limits": job.get("limits", {})}
        if job.get("judge"):
            spawn["judge"] = {"uid": judge_uid, "home": str(homes[judge_uid])}
        reply, fds = self.zygote.call(spawn)
        pid, socks = reply["pid"], [socket.socket(fileno=fd) for fd in fds]
        try:
            result = self._drive(socks[0], pid, job, socks[1] if len(socks) > 1 else None)
        finally:
            for sock in socks:
                sock.close()
            clean = self._end(uid, pid, homes[uid])
            if job.get("judge"):
                clean = self._end(judge_uid, reply.get("judge_pid", pid), homes[judge_uid]) and clean
        cpu = [self.cpu.pop(p, None) for p in (pid, reply.get("judge_pid"))]
        result.update(
            id=job.get("id"),
            seconds=round(time.monotonic() - t0, 3),
            clean=clean,
            cpu_seconds=round(sum(c for c in cpu if c is not None), 4),
        )
        if UIDS and 2 * self.jobs + 4 > UIDS:  # the next job's uids would leave the block
            result["retire"] = True
        return result

    def _drive(self, sock: socket.socket, pid: int, job: dict, judge: socket.socket | None = None) -> dict:
        """Each cell to the student's process; with a judge, each test cell to the judge instead, while the student's
        process answers the judge's requests (``crossing``)."""
        lines = _Lines(sock)
        judge_lines = _Lines(judge) if judge is not None else None
        cells, flags = [], []
        status, reason = "ok", ""
        deadline_job = time.monotonic() + float(job.get("job_timeout", 300))
        room = MAX_JOB_OUTPUT
        for seq, cell in enumerate(job["cells"]):
            timeout = float(cell.get("timeout", job.get("timeout", 30)))
            judged = judge is not None and bool(cell.get("grade")) and not cell.get("in_process")
            started = time.monotonic()
            try:
                deadline = min(time.monotonic() + timeout + GRACE, deadline_job)
                if judged:
                    _send(sock, {"seq": seq, "serve": True, "timeout": timeout})
                    _send(judge, {"seq": seq, "source": cell["source"], "timeout": timeout, "count": seq + 1})
                    reply = _reply(judge_lines, seq, deadline)
                    served = _reply(lines, seq, min(time.monotonic() + GRACE, deadline_job))
                    if reply is not None and served is None:  # the student's process died meanwhile
                        cells.append(_cell_of(reply, room)[0])
                        status, reason = "crashed", self._status(pid)
                        break
                    if reply is not None:
                        reply["flags"] = served.get("flags", [])
                else:
                    message = {
                        "seq": seq,
                        "source": cell["source"],
                        "timeout": timeout,
                        "grade": bool(cell.get("grade")),
                        "count": seq + 1,
                    }
                    _send(sock, message)
                    if judge is not None and cell.get("setup"):
                        _send(judge, {"seq": seq, "imports": cell["source"]})
                    reply = _reply(lines, seq, deadline)
            except TimeoutError:
                status = "timeout"
                reason = (
                    "stopped: the submission's total time ran out"
                    if time.monotonic() >= deadline_job
                    else f"stopped: no answer {GRACE:.0f} s after the cell's {timeout:.0f} s limit"
                )
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
                status, reason = "crashed", self._status(pid)
                cells.append(_error_cell("DeadKernelError", reason))
                break
            found = reply.get("flags") if isinstance(reply.get("flags"), list) else []
            flags += [str(f)[:500] for f in found if f not in flags][:50]
            cell_out, cut = _cell_of(reply, room)
            cell_out["seconds"] = round(time.monotonic() - started, 4)  # what the cell took (calibrated limits)
            room -= sum(len(json.dumps(o)) for o in cell_out["outputs"])
            flags += [f"output cut: cell {seq + 1}: {why}" for why in cut]
            cells.append(cell_out)
        return {"status": status, "reason": reason, "cells": cells, "flags": flags}

    def _status(self, pid: int, wait: float = 2) -> str:
        """Why a job's process ended (the zygote reaps it); its CPU seconds are kept for the job's result."""
        reply = self.zygote.call({"op": "status", "pid": pid, "wait": wait})[0]
        if isinstance(reply.get("cpu"), int | float):
            self.cpu[pid] = reply["cpu"]
        return reply["reason"]

    def _end(self, uid: int, pid: int, home: Path) -> bool:
        """Kill every process of ``uid`` and remove every file a job could have left; True once verified."""
        # Its socket closed, the job's process ends by itself: reaped here. Only where a process of the uid is left
        # (a background child, a process that stopped itself or ignores its socket) does the zygote fork the killer:
        # a fork costs tens of milliseconds in gVisor, twice a submission.
        self._status(pid, wait=0.2)
        for _ in range(50):
            _reap()
            if not _processes_of(uid):
                break
            self.zygote.call({"op": "kill", "uid": uid})
            self._status(pid, wait=0)  # reap the job's own process
            time.sleep(0.02)
        shutil.rmtree(home, ignore_errors=True)
        for scratch in SCRATCH:
            if Path(scratch).is_dir():
                for entry in Path(scratch).iterdir():
                    if entry not in self.own:
                        _remove(entry)
        left = [e for s in SCRATCH if Path(s).is_dir() for e in Path(s).iterdir() if e not in self.own]
        return not _processes_of(uid) and not left


def _reply(lines: _Lines, seq: int, deadline: float) -> dict | None:
    """The answer for cell ``seq``. Copies of the job made by fork() share its socket and may answer for a cell long
    done: those are skipped."""
    reply = lines.read(deadline)
    while reply is not None and reply.get("seq") != seq:
        reply = lines.read(deadline)
    return reply


def _cell_of(reply: dict, room: int) -> tuple[dict, list[str]]:
    """A cell's record from its process's answer, bounded; and what was cut."""
    outputs, cut = bounded_outputs(reply.get("outputs"), room)
    cut = [str(c)[:200] for c in (reply.get("cut") or [])[:20] if isinstance(reply.get("cut"), list)] + cut
    count = reply.get("execution_count")
    return {"outputs": outputs, "execution_count": count if isinstance(count, int) else None}, cut


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
            short = {
                "output_type": "error",
                "ename": str(output.get("ename", ""))[:200],
                "evalue": str(output.get("evalue", ""))[:2000],
                "traceback": [str(t)[:2000] for t in (output.get("traceback") or [])[-20:]],
            }
            kept.append(short)
            room -= len(json.dumps(short))
        else:
            note = {
                "output_type": "stream",
                "name": "stderr",
                "text": f"[output cut: one {kind} output of {size} bytes; at most {limit} are kept]\n",
            }
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


def _how_it_ended(pid: int, wait: float = 2.0) -> tuple[str, float | None]:
    """Why a job's process is gone, reaping it, and the CPU seconds it (and the children it reaped) used; waits up
    to ``wait`` seconds for it to end."""
    deadline = time.monotonic() + wait
    while True:
        try:
            done, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            if pid not in _REAPED:
                return "the program ended the kernel", None
            done, (status, cpu) = pid, _REAPED.pop(pid)
            break
        if done:
            cpu = usage.ru_utime + usage.ru_stime
            break
        if time.monotonic() >= deadline:
            return "the kernel stopped answering", None
        time.sleep(0.02)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        why = {"SIGKILL": " (out of memory or CPU time?)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (crash)"}
        return f"the kernel died: signal {sig}{why.get(sig, '')}", cpu
    return f"the program ended the kernel (exit code {os.WEXITSTATUS(status)}), e.g. by os._exit() or a crash", cpu


# Children reaped by _reap (a job's processes, once killed): how each ended and its CPU seconds, for _how_it_ended.
_REAPED: dict[int, tuple[int, float]] = {}


def _reap() -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _REAPED[pid] = (status, usage.ru_utime + usage.ru_stime)
        while len(_REAPED) > 1000:  # a pid nobody asked about (the kill op's helper)
            _REAPED.pop(next(iter(_REAPED)))


def _processes_of(uid: int) -> list[int]:
    """The processes with ``uid`` among their user ids. From /proc/<pid>/status, not the owner of /proc/<pid>: a
    process that makes itself not dumpable (prctl) has its /proc folder owned by root."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:  # gone meanwhile
                continue
            line = next((x for x in status.splitlines() if x.startswith("Uid:")), "")
            if str(uid) in line.split()[1:]:
                pids.append(int(entry.name))
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
        raise SystemExit("studio_sandbox.worker runs only as root inside a grading sandbox (STUDIO_GRADER_SANDBOX=1)")
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
        if args.once or result.get("retire"):
            break


if __name__ == "__main__":
    main()

"""A per-kernel limit on processes (and threads), for sandboxes that cannot enforce one themselves.

gVisor (runsc) does not enforce RLIMIT_NPROC, and when its container reaches Docker's pids limit the whole sandbox
dies: a fork bomb in one cell would take the learner's Jupyter server with it. Under gVisor's ptrace platform each
running process costs the container about seven host tasks and a thread about half of one (measured), so the
guard keeps a kernel's session (the kernel and everything it started) far below the container's limit:

- an audit hook refuses to start a process from Python once the session has ``limit`` processes, ends all the
  kernel started, and raises an error that says so (a Python fork bomb stops there; ``threading`` likewise
  refuses a thread once the session has ``thread_limit`` tasks);
- a watchdog thread in the kernel counts the session's processes and, past the limit (a bomb from a shell or C
  code), kills every process of the session but the kernel and tells the learner in the running cell's
  output. The kernel, its variables and the server live on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
import time

# Audit events raised just before Python starts a process. (Python 3.11 has none for threads: see install().)
PROCESS_EVENTS = frozenset(
    {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "pty.spawn"}
)

LIMIT_MESSAGE = (
    "This kernel may run {limit} processes at most, and this would have been one more (a fork bomb?). "
    "All {ended} processes it had started were ended; the kernel and its variables are still here."
)
THREAD_LIMIT_MESSAGE = (
    "This kernel already runs {count} processes and threads, its limit is {limit}: no more threads can be started."
)
STOPPED_MESSAGE = (
    "\nStopped: the code in this cell started more than {limit} processes at once (a fork bomb?). "
    "All {killed} of them were ended. Your kernel and its variables are still here.\n"
)


class TooManyProcesses(BlockingIOError):
    """Raised instead of starting a process or thread past the kernel's limit (what fork does at EAGAIN)."""


def session_tasks(sid: int) -> dict[int, int]:
    """{pid: number of threads} of every live process in session ``sid`` (from /proc; zombies are left out)."""
    tasks = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its closing parenthesis.
        fields = stat[stat.rfind(b")") + 2 :].split()
        # field 3: state (zombies are ended already); field 6: session; field 20: num_threads
        if len(fields) > 17 and int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            tasks[int(name)] = int(fields[17])
    return tasks


def end_session(sid: int, *, keep: int = -1, timeout: float = 10) -> int:
    """SIGKILL every process of session ``sid`` but ``keep``; return how many were ended.

    Stop first, kill after: a stopped process cannot fork, so each pass over /proc leaves fewer running, where
    killing one by one would race processes that fork faster than they are killed. Under gVisor a SIGSTOP lands a
    moment after kill() returns, so a copy may still fork once after the last pass: look again after the kills,
    until a pass finds nothing (else those few live on, held at the limit by the fork guard, forking forever).
    """
    ended: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stopped: set[int] = set()
        while time.monotonic() < deadline:
            running = [pid for pid in session_tasks(sid) if pid != keep and pid not in stopped]
            if not running:
                break
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                stopped.add(pid)
        if not stopped:
            break
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ended |= stopped
        time.sleep(0.02)  # the kills land; the next pass sees only what forked meanwhile
    return len(ended)


class ProcessGuard:
    def __init__(self, limit: int, *, thread_limit: int = 0, interval: float = 0.05, out=None):
        self.limit = limit
        self.thread_limit = thread_limit or 4 * limit
        self.interval = interval
        self.pid = os.getpid()
        self.sid = os.getsid(0)
        self._out = out  # where the watchdog reports; default: the kernel's current sys.stderr (the cell's output)
        self._lock_fd = -1
        self.stops = 0

    def count(self) -> tuple[int, int]:
        """(processes, processes + threads) in the kernel's session."""
        tasks = session_tasks(self.sid)
        return len(tasks), sum(tasks.values())

    def _lock(self) -> None:
        """Take the session's fork lock (a flock shared through fork) for at most a second."""
        deadline = time.monotonic() + 1
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # a lock never released (a fork that failed): go on unserialised rather than hang
                time.sleep(0.001)

    def _unlock(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def audit(self, event: str, args) -> None:
        if event in PROCESS_EVENTS:
            if event == "os.fork" and self._lock_fd >= 0:
                # Check and fork one process at a time across the session (unlocked in the parent after the
                # fork): the copies of a fork bomb cannot all pass the check together and overshoot the limit.
                self._lock()
                try:
                    self._check_processes()
                except BaseException:
                    self._unlock()
                    raise
            else:
                self._check_processes()

    def _check_processes(self) -> None:
        processes, _ = self.count()
        if processes >= self.limit:
            if os.getpid() != self.pid:
                # A copy of the kernel made by os.fork (the bomb itself): it must not live on as a second kernel
                # on the same sockets. Only the kernel gets the error, and the learner sees it.
                self._unlock()
                os._exit(1)
            # The kernel itself: end all it started (a bomb's copies would otherwise keep forking and exiting at
            # the limit), and tell the learner.
            ended = self.stop_runaways()
            raise TooManyProcesses(LIMIT_MESSAGE.format(limit=self.limit, ended=ended))

    def check_thread(self) -> None:
        _, tasks = self.count()
        if tasks >= self.thread_limit:
            raise TooManyProcesses(THREAD_LIMIT_MESSAGE.format(count=tasks, limit=self.thread_limit))

    def _after_fork(self) -> None:
        """Processes forking at the same moment all pass the audit check: the ones past the limit end at once."""
        if self.count()[0] > self.limit:
            os._exit(1)

    def stop_runaways(self) -> int:
        """End every process of the session but this one; return how many were ended."""
        ended = end_session(self.sid, keep=self.pid)
        self._reap()
        return ended

    def _reap(self) -> None:
        """Collect the kernel's own dead children (subprocess' own bookkeeping copes with ECHILD)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def watch(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                if self.count()[0] <= self.limit:
                    continue
                killed = self.stop_runaways()
            except Exception:  # the watchdog must never die of a /proc oddity
                continue
            self.stops += 1
            out = self._out or sys.stderr
            # No interrupt of the main thread: the processes it waits for are gone, so the cell ends by itself, and
            # an interrupt landing between cells would kill ipykernel's event loop (seen under gVisor).
            with contextlib.suppress(Exception):
                out.write(STOPPED_MESSAGE.format(limit=self.limit, killed=killed))
                out.flush()

    def _open_lock(self) -> None:
        with contextlib.suppress(OSError):
            self._lock_fd = os.open(
                f"/tmp/.studio-process-guard-{os.getuid()}-{self.sid}", os.O_RDWR | os.O_CREAT, 0o600
            )
            os.set_inheritable(self._lock_fd, False)  # kept across fork, not handed to programs exec'd

    def _hook_fork(self) -> None:
        """os.fork may also be refused below Python (the learner image's fork guard gives EAGAIN at the same limit,
        counted a moment later): a copy of the kernel ends there, the kernel itself ends the rest and says so."""
        fork = os.fork

        def guarded_fork():
            try:
                return fork()
            except BlockingIOError:
                if os.getpid() != self.pid:
                    os._exit(1)
                ended = self.stop_runaways()
                raise TooManyProcesses(LIMIT_MESSAGE.format(limit=self.limit, ended=ended)) from None

        os.fork = guarded_fork

    def _hook_threads(self) -> None:
        """threading.Thread.start goes through threading._start_new_thread: check the count there."""
        start = threading._start_new_thread

        def guarded_start(*args, **kwargs):
            self.check_thread()
            return start(*args, **kwargs)

        threading._start_new_thread = guarded_start

    def install(self) -> ProcessGuard:
        """Add the audit hook and start the watchdog. The kernel must lead its own session (jupyter_client starts
        kernels so); else it starts one, so that the watchdog can never touch the Jupyter server, and if it cannot,
        only the audit hook is installed."""
        if self.sid != self.pid:
            try:
                os.setsid()
            except PermissionError:  # a process group leader cannot: keep the audit hook, no killing watchdog
                self._hook_threads()
                sys.addaudithook(self.audit)
                return self
            self.sid = os.getsid(0)
        self._open_lock()
        self._hook_threads()
        self._hook_fork()
        sys.addaudithook(self.audit)
        os.register_at_fork(after_in_parent=self._unlock, after_in_child=self._after_fork)
        # Killing stopped members of the kernel's orphaned process group makes gVisor send the group SIGHUP (seen:
        # the kernel died of it), which would end the kernel too. A kernel has no terminal to hang up anyway.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        threading.Thread(target=self.watch, name="studio-process-guard", daemon=True).start()
        return self

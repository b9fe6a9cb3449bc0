"""Grading sandboxes from the grader's side: gVisor containers running ``studio_sandbox.worker``, or, on a machine
without Docker (the embedded default), the same worker under gVisor's ``runsc`` on its own where it is installed,
else in bubblewrap (``SandboxSpec.engine``).

Two modes, chosen per course (``SandboxedExecute.mode``):

- ``pooled`` (default): a few long-lived sandboxes, each serving one submission at a time; inside, every
  submission runs in a freshly forked process under a uid of its own with a private folder, and all its
  processes and files are gone (checked) before the next one starts.
- ``strict``: a fresh sandbox for every submission, thrown away after it; sandboxes are started ahead
  (``warm``) so the start-up cost overlaps with grading.

Either way: no network, read-only image, limits on memory, processes and CPU, nothing of the host mounted.

The bubblewrap engine (``engine="bwrap"``, root only) runs the worker from this machine's own environment in
namespaces of its own: no network at all (a network namespace with nothing in it), its own process list, IPC and
host name, a read-only view of the system and of the virtualenv and nothing else of the machine (no homes, no
checkout, no course folders), a private /tmp and /dev/shm of bounded size, the capabilities the fork-server needs
and no others. Each sandbox's jobs get uids from a block of their own (``UidBlock``), so no two sandboxes' jobs
ever share a uid (a uid's process limit and signals are per uid on a real kernel), and every job's process runs
under a seccomp filter (``studio_sandbox.confine``). What it does not give that gVisor gives: the jobs' system calls
reach this machine's kernel (the filter narrows which), and memory is bounded per process (RLIMIT_AS times the
process limit), not for the sandbox as a whole.

The runsc engine (``engine="runsc"``, root, no Docker) gives what the Docker engine gives, from this machine's own
system and virtualenv rather than an image: runsc runs an OCI bundle written for each sandbox (an empty read-only
root, with /usr, /etc and the virtualenv bound read-only, a private /tmp, no network, the memory, CPU and process
limits, the fork-server's six capabilities and no new privileges), so the jobs' system calls reach gVisor's kernel,
not this machine's. The fork guard that the learner image preloads (gVisor ignores RLIMIT_NPROC) is built into the
virtualenv by scripts/setup.sh; without it this engine is not used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import secrets
import select
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio_wire.grading import JOB, problem

# The longest answer read from a sandbox: one job's result, whose outputs its worker caps at 8 MiB in all
# (studio_sandbox.worker.MAX_JOB_OUTPUT), with room for JSON's escapes and the rest of the result.
MAX_REPLY = 32 * 2**20
ENGINES = ("docker", "runsc", "bwrap")
# The bubblewrap engine's uid blocks: sandbox n's jobs run as FIRST_BLOCK_UID + n * BLOCK_UIDS onwards, far above any
# account's (learners' and course accounts are ordinary ones); a sandbox whose block is used up is replaced.
FIRST_BLOCK_UID, BLOCK_UIDS, BLOCKS = 10_000_000, 20_000, 4096
UID_LOCKS = Path("/run/learning-studio/grading-uids")
# The runsc engine's bundles (one per sandbox, removed with it) and runsc's own state.
RUNSC_DIR = Path("/run/learning-studio/runsc")
# The learner image's preloaded libraries (images/learner/*.c), as scripts/setup.sh builds them into the virtualenv.
PRELOAD_DIR = Path(sys.prefix) / "lib" / "studio-preload"
PRELOADS = ("libstudio-fork-guard.so", "libstudio-statx-compat.so")


class SandboxError(RuntimeError):
    """The sandbox itself failed (would not start, died, stopped answering): not the submission's fault."""


@dataclass(frozen=True)
class SandboxSpec:
    image: str = "studio-learner:latest"
    runtime: str = "runsc"
    memory_mib: int = 1536  # the container; a job gets job_memory_mib of it
    job_memory_mib: int = 1024
    cpus: float = 1.0
    pids: int = 256
    tmpfs_mib: int = 256
    prefix: str = "studio-grade"
    start_timeout: float = 60.0
    extra_args: tuple[str, ...] = field(default=())
    # "docker": a container of `image` in `runtime` (gVisor); "runsc": gVisor on this machine's system, no Docker;
    # "bwrap": bubblewrap on this machine (no Docker). Both of the latter need root.
    engine: str = "docker"

    def argv(self, name: str, once: bool, command: tuple[str, ...] = (), first_uid: int = 0) -> list[str]:
        """The command that runs a sandbox: the grading worker, or ``command`` (another program of the image's; its
        "python" is the sandbox's). ``first_uid``: the bubblewrap engine's block of uids for its jobs."""
        command = command or ("python", "-m", "studio_sandbox.worker", *(["--once"] if once else []))
        if self.engine == "bwrap":
            return self._bwrap(command, first_uid)
        if self.engine == "runsc":
            return self._runsc(name, command)
        return [
            "docker",
            "run",
            "-i",
            "--rm",
            "--name",
            name,
            "--label",
            "org.learning-studio.grading=1",
            "--runtime",
            self.runtime,
            "--network",
            "none",
            "--read-only",
            "--tmpfs",
            f"/tmp:rw,nosuid,nodev,size={self.tmpfs_mib}m,mode=1777",
            "--user",
            "0",
            "--cap-drop",
            "ALL",
            # What the fork-server needs, inside gVisor's own kernel: switch each job to its uid, kill a job's
            # processes, clear what a job left. The jobs themselves have none of it.
            "--cap-add",
            "SETUID",
            "--cap-add",
            "SETGID",
            "--cap-add",
            "KILL",
            "--cap-add",
            "CHOWN",
            "--cap-add",
            "DAC_OVERRIDE",
            "--cap-add",
            "FOWNER",
            "--security-opt",
            "no-new-privileges",
            "--memory",
            f"{self.memory_mib}m",
            "--memory-swap",
            f"{self.memory_mib}m",
            "--cpus",
            str(self.cpus),
            "--pids-limit",
            str(self.pids),
            # The image's preloaded fork guard stays: gVisor ignores RLIMIT_NPROC, the guard holds each job's
            # processes to its limit (and a fork bomb away from the container's pids limit, which ends a sandbox).
            "--env",
            "STUDIO_GRADER_SANDBOX=1",
            "--workdir",
            "/tmp",
            *self.extra_args,
            self.image,
            *command,
        ]

    def start(
        self, name: str, once: bool, command: tuple[str, ...] = (), **popen
    ) -> tuple[subprocess.Popen, UidBlock | None]:
        """Start a sandbox named ``name`` (``argv``'s), with its block of uids on the bubblewrap engine (held until
        released: the caller's once the sandbox has ended). SandboxError where no sandbox of this engine can run."""
        if problem := engine_problem(self.engine):
            raise SandboxError(f"no grading sandbox can run here: {problem}")
        if self.engine == "runsc":
            sweep_runsc_bundles()
        uids = UidBlock() if self.engine == "bwrap" else None
        try:
            return subprocess.Popen(self.argv(name, once, command, first_uid=uids.first if uids else 0), **popen), uids
        except BaseException:
            if uids is not None:
                uids.release()
            raise

    def remove(self, name: str, proc: subprocess.Popen) -> None:
        """Stop sandbox ``name`` whatever it is doing (bubblewrap: everything in its process namespace goes with it)."""
        if self.engine == "docker":
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        if self.engine == "runsc":
            runsc = ["runsc", "--root", str(RUNSC_DIR / "state")]
            subprocess.run([*runsc, "kill", "--all", name, "KILL"], capture_output=True, timeout=30)
            subprocess.run([*runsc, "delete", "--force", name], capture_output=True, timeout=30)
        if proc.poll() is None:
            proc.kill()
        if self.engine == "runsc":
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            shutil.rmtree(RUNSC_DIR / "bundles" / name, ignore_errors=True)

    def _runsc(self, name: str, command: tuple[str, ...]) -> list[str]:
        """runsc's command for sandbox ``name``, and its bundle (config.json and an empty root) written for it."""
        venv = Path(sys.prefix).resolve()
        if command[0] == "python":
            command = (str(venv / "bin" / "python"), *command[1:])
        bundle = RUNSC_DIR / "bundles" / name
        root = bundle / "rootfs"
        shutil.rmtree(bundle, ignore_errors=True)
        for folder in ("usr", "etc", "tmp", "proc", "dev", "sys", str(venv).lstrip("/")):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for top in ("bin", "sbin", "lib", "lib64", "lib32"):  # symlinks into /usr on Debian 12, kept as such
            if os.path.islink(f"/{top}"):
                (root / top).symlink_to(os.readlink(f"/{top}"))
        for path in [root, *root.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755)
        caps = [f"CAP_{cap}" for cap in _WORKER_CAPS]
        preload = " ".join(str(PRELOAD_DIR / lib) for lib in PRELOADS if (PRELOAD_DIR / lib).is_file())
        config = {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": 0, "gid": 0},
                "args": list(command),
                "env": [
                    f"PATH={venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                    "HOME=/tmp",
                    "LANG=C.UTF-8",
                    "STUDIO_GRADER_SANDBOX=1",
                    f"LD_PRELOAD={preload}",
                ],
                "cwd": "/tmp",
                "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                "noNewPrivileges": True,
            },
            "root": {"path": "rootfs", "readonly": True},
            "hostname": "sandbox",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                {
                    "destination": "/tmp",
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777", f"size={self.tmpfs_mib * 2**20}"],
                },
                {
                    "destination": "/dev/shm",
                    "type": "tmpfs",
                    "source": "shm",
                    "options": ["nosuid", "nodev", "noexec", "mode=1777", f"size={64 * 2**20}"],
                },
                *[
                    {"destination": path, "type": "bind", "source": path, "options": ["rbind", "ro", "nosuid"]}
                    for path in ("/usr", "/etc", str(venv))
                ],
            ],
            "linux": {
                "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                "resources": {
                    "memory": {"limit": self.memory_mib * 2**20, "swap": self.memory_mib * 2**20},
                    "pids": {"limit": self.pids},
                    "cpu": {"quota": int(self.cpus * 100_000), "period": 100_000},
                },
            },
        }
        (bundle / "config.json").write_text(json.dumps(config))
        # --network=none: only a loopback device; the sandbox's own kernel (gVisor's), not this machine's.
        return ["runsc", "--root", str(RUNSC_DIR / "state"), "--network=none", "run", "--bundle", str(bundle), name]

    def _bwrap(self, command: tuple[str, ...], first_uid: int) -> list[str]:
        venv = Path(sys.prefix).resolve()  # this environment: its Python and packages are the sandbox's
        if command[0] == "python":
            command = (str(venv / "bin" / "python"), *command[1:])
        system = []
        for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):  # symlinks into /usr on Debian 12, kept as such
            if os.path.islink(top):
                system += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                system += ["--ro-bind", top, top]
        return [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
            *system,
            "--ro-bind",
            "/etc",
            "/etc",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(self.tmpfs_mib * 2**20),
            "--tmpfs",
            "/tmp",
            "--size",
            str(64 * 2**20),
            "--tmpfs",
            "/dev/shm",
            "--chmod",
            "1777",
            "/tmp",
            "--chmod",
            "1777",
            "/dev/shm",
            # After /tmp's tmpfs, which would hide a virtualenv under /tmp (a checkout there). The folders bubblewrap
            # makes on the way to it are 0700: the jobs' uids must pass through them.
            "--ro-bind",
            str(venv),
            str(venv),
            *[arg for parent in _made_for(venv) for arg in ("--chmod", "0755", str(parent))],
            "--chdir",
            "/tmp",
            "--clearenv",
            "--setenv",
            "PATH",
            f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "STUDIO_GRADER_SANDBOX",
            "1",
            "--setenv",
            "STUDIO_SANDBOX_FIRST_UID",
            str(first_uid or FIRST_BLOCK_UID),
            "--setenv",
            "STUDIO_SANDBOX_UIDS",
            str(BLOCK_UIDS),
            "--setenv",
            "STUDIO_SANDBOX_SECCOMP",
            "1",
            "--cap-drop",
            "ALL",
            *[arg for cap in _WORKER_CAPS for arg in ("--cap-add", f"CAP_{cap}")],
            "--",
            *command,
        ]


def sweep_runsc_bundles(older_than: float = 60.0) -> int:
    """Remove the bundles of runsc sandboxes that are gone (a grading service stopped or killed before it could
    remove them: runsc's --attached sandbox dies with it, its bundle stays); how many. A bundle younger than
    ``older_than`` seconds may be one another service is about to start: it is left alone."""
    bundles = RUNSC_DIR / "bundles"
    try:
        names = [p for p in bundles.iterdir() if time.time() - p.stat().st_mtime > older_than]
    except OSError:
        return 0
    if not names:
        return 0
    try:
        listed = subprocess.run(
            ["runsc", "--root", str(RUNSC_DIR / "state"), "list", "-format=json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        alive = {c.get("id") for c in json.loads(listed.stdout or "null") or []} if not listed.returncode else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        alive = None
    if alive is None:
        return 0  # runsc cannot say what runs: nothing is removed
    gone = [p for p in names if p.name not in alive]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return len(gone)


def _made_for(path: Path) -> list[Path]:
    """The folders above ``path`` that bubblewrap makes to bind it (not those of the system or the scratch folders it
    binds or mounts itself)."""
    bound = (Path("/usr"), Path("/etc"))  # read-only, as they are
    mounted = (Path("/"), Path("/tmp"), Path("/dev"), Path("/proc"))
    return [p for p in path.parents if p not in mounted and not any(p.is_relative_to(b) for b in bound)]


# What the fork-server needs (switch each job to its uid, kill a job's processes, clear what a job left); the jobs
# themselves have none of it.
_WORKER_CAPS = ("SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER")


def engine_problem(engine: str) -> str:
    """Why sandboxes of ``engine`` cannot run here ("" if they can)."""
    if engine == "bwrap":
        if os.geteuid() != 0:
            return "the bubblewrap grading sandbox runs jobs under uids of their own: it needs root"
        if not shutil.which("bwrap"):
            return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
        return ""
    if engine == "docker":
        return "" if shutil.which("docker") else "Docker is not installed"
    if engine == "runsc":
        if os.geteuid() != 0:
            return "gVisor's runsc without Docker needs root"
        if not shutil.which("runsc"):
            return "gVisor's runsc is not installed"
        if not (PRELOAD_DIR / PRELOADS[0]).is_file():
            return f"the fork guard gVisor needs is not built ({PRELOAD_DIR / PRELOADS[0]}: scripts/setup.sh with gcc)"
        return ""
    return f"unknown sandbox engine {engine!r} (one of {', '.join(ENGINES)})"


def choose_engine(image: str, runtime: str) -> tuple[str, str]:
    """What runs grading sandboxes here, asked for "auto": Docker when it answers with ``runtime`` and has ``image``
    (gVisor containers), else gVisor's runsc on its own, else bubblewrap, the first that can run here; and why Docker
    was not chosen ("" if it was). Raises SandboxError naming what is missing when none can run."""
    why_not = _docker_problem(image, runtime)
    if not why_not:
        return "docker", ""
    problems = [why_not]
    for engine in ("runsc", "bwrap"):
        if not (problem := engine_problem(engine)):
            return engine, "; ".join(problems)
        problems.append(problem)
    raise SandboxError(f"no grading sandbox can run here: {'; '.join(problems)}")


def _docker_problem(image: str, runtime: str) -> str:
    if not shutil.which("docker"):
        return "Docker is not installed"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True, timeout=20
        )
        if info.returncode:
            return f"Docker does not answer ({info.stderr.strip()[:200]})"
        if runtime not in json.loads(info.stdout or "{}"):
            return f"Docker has no {runtime!r} runtime (gVisor)"
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=20)
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return f"Docker does not answer ({e})"
    return "" if found.returncode == 0 else f"Docker has no image {image!r} (images/build.sh learner builds it)"


def describe_engine(engine: str, image: str = "", runtime: str = "runsc") -> str:
    """One line for start-up messages: what isolates the code graded."""
    if engine == "docker":
        return f"each submission in a gVisor ({runtime}) container of {image}: no network, read-only image"
    if engine == "runsc":
        return (
            "each submission in gVisor (runsc, without Docker) on this machine's read-only system: its own kernel, "
            "no network, private /tmp, limits"
        )
    return (
        "each submission in bubblewrap on this machine (no Docker): uids of its own, no network, read-only system, "
        "private /tmp, limits, a seccomp filter"
    )


class UidBlock:
    """A block of uids no other running sandbox on this machine uses: a lock held for the sandbox's life (a process
    that dies lets go of its locks)."""

    def __init__(self):
        UID_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
        start = secrets.randbelow(BLOCKS)  # where to start looking: rarely a lock another process holds
        for i in range(BLOCKS):
            n = (start + i) % BLOCKS
            fd = os.open(UID_LOCKS / str(n), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd, self.first = fd, FIRST_BLOCK_UID + n * BLOCK_UIDS
            return
        raise SandboxError(f"all {BLOCKS} grading sandboxes' uid blocks are in use")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Sandbox:
    """One running sandbox; ``run(job)`` sends a job and waits for its result."""

    def __init__(self, spec: SandboxSpec, *, once: bool = False):
        self.spec, self.once = spec, once
        self.name = f"{spec.prefix}-{secrets.token_hex(5)}"
        self.proc, self.uids = spec.start(
            self.name,
            once,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.started = time.monotonic()
        self.ready = False
        self.used = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        line = self._readline(self.spec.start_timeout)
        if not line or not json.loads(line).get("ready"):
            why = self._stderr()
            self.kill()
            raise SandboxError(f"the grading sandbox did not start: {why}")
        self.ready = True

    def run(self, job: dict, timeout: float) -> dict:
        self.wait_ready()
        if self.once and self.used:
            raise SandboxError("a strict sandbox serves one submission")
        self.used = True
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            why = self._stderr()
            self.kill()
            raise SandboxError(f"the grading sandbox is gone: {e}; {why}") from None
        line = self._readline(timeout)
        if not line:
            why = self._stderr()
            self.kill()
            raise SandboxError(f"the grading sandbox did not answer within {timeout:.0f} s; {why}")
        try:
            return json.loads(line)
        except ValueError:
            self.kill()
            raise SandboxError(f"the grading sandbox answered with something else: {line[:200]!r}") from None

    def _readline(self, timeout: float) -> str:
        """One line of the sandbox's answer, read no further than MAX_REPLY: what is in the sandbox may write
        anything there; a longer line ends the sandbox."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        line = self.proc.stdout.readline(MAX_REPLY + 1)
        if len(line) > MAX_REPLY:
            self.kill()
            raise SandboxError(f"the grading sandbox answered with more than {MAX_REPLY // 2**20} MiB")
        return line

    def _stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr.closed:
            return "(no more detail)"
        return (self.proc.stderr.read() or "").strip()[-2000:] or f"exit code {self.proc.returncode}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        self.spec.remove(self.name, self.proc)
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        if self.uids is not None and self.proc.poll() is not None:
            self.uids.release()


class SandboxPool:
    """Sandboxes for grading, ``size`` at a time; thread-safe ``run(job)``."""

    def __init__(self, spec: SandboxSpec, size: int = 2, mode: str = "pooled"):
        if mode not in ("pooled", "strict"):
            raise ValueError(f"mode must be 'pooled' or 'strict', not {mode!r}")
        self.spec, self.size, self.mode = spec, max(1, size), mode
        self.idle: queue.Queue[Sandbox] = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False
        for _ in range(self.size):
            self.idle.put(self._new())

    def _new(self) -> Sandbox:
        return Sandbox(self.spec, once=self.mode == "strict")

    def run(self, job: dict, timeout: float) -> dict:
        """Run one job; a sandbox that fails is replaced and the job is tried once more in a new one."""
        wrong = problem(JOB, job)
        if wrong:  # ours to fix: every caller builds its jobs (a grader's arrive checked by the grading service)
            raise ValueError(wrong)
        for attempt in (1, 2):
            try:
                sandbox = self.idle.get(timeout=self.spec.start_timeout + timeout)
            except queue.Empty:
                raise SandboxError("no grading sandbox became free in time") from None
            try:
                result = sandbox.run(job, timeout)
            except BaseException as e:  # whatever happened, this sandbox is not used again, and is replaced
                sandbox.kill()
                self._give_back(self._new())
                if attempt == 2 or not isinstance(e, SandboxError):
                    raise
                continue
            if self.mode == "strict" or not result.get("clean", False) or result.pop("retire", False):
                # Strict: never reused. Pooled: a sandbox that could not prove the job gone is not reused either, nor
                # one whose block of uids is used up.
                threading.Thread(target=sandbox.kill if self.mode == "pooled" else sandbox.close, daemon=True).start()
                sandbox = self._new()  # the next submission's, starting while this result is used
            self._give_back(sandbox)
            return result
        raise AssertionError("unreachable")

    def _give_back(self, sandbox: Sandbox) -> None:
        if self.closed:
            sandbox.kill()
        else:
            self.idle.put(sandbox)

    def close(self) -> None:
        self.closed = True
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return

"""Grading sandboxes from the grader's side: gVisor containers running ``studio_sandbox.worker``.

Two modes, chosen per course (``SandboxedExecute.mode``):

- ``pooled`` (default): a few long-lived sandboxes, each serving one submission at a time; inside, every
  submission runs in a freshly forked process under a uid of its own with a private folder, and all its
  processes and files are gone (checked) before the next one starts.
- ``strict``: a fresh sandbox for every submission, thrown away after it; sandboxes are started ahead
  (``warm``) so the start-up cost overlaps with grading.

Either way: no network, read-only image, limits on memory, processes and CPU, nothing of the host mounted.
"""

from __future__ import annotations

import json
import queue
import secrets
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field

from studio_wire.grading import JOB, problem

# The longest answer read from a sandbox: one job's result, whose outputs its worker caps at 8 MiB in all
# (studio_sandbox.worker.MAX_JOB_OUTPUT), with room for JSON's escapes and the rest of the result.
MAX_REPLY = 32 * 2**20


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

    def argv(self, name: str, once: bool, command: tuple[str, ...] = ()) -> list[str]:
        """``docker run`` of a sandbox: the grading worker, or ``command`` (another program of the image's)."""
        command = command or ("python", "-m", "studio_sandbox.worker", *(["--once"] if once else []))
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


class Sandbox:
    """One running sandbox; ``run(job)`` sends a job and waits for its result."""

    def __init__(self, spec: SandboxSpec, *, once: bool = False):
        self.spec, self.once = spec, once
        self.name = f"{spec.prefix}-{secrets.token_hex(5)}"
        self.proc = subprocess.Popen(
            spec.argv(self.name, once),
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
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


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
            if self.mode == "strict" or not result.get("clean", False):
                # Strict: never reused. Pooled: a sandbox that could not prove the job gone is not reused either.
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

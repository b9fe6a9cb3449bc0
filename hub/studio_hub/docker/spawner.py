"""SandboxedDockerSpawner: each learner's server in its own hardened container, run by gVisor (runsc).

DockerSpawner does the container life cycle; this class sets hardened defaults (every one a traitlet an operator
can change) and tells the learner why their server stopped. Its other jobs are its parts, one module each: the
warm pool (``warm``), bounded homes (``volumes``), the learners' network and the host firewall (``network``).
"""

from __future__ import annotations

import asyncio

from dockerspawner import DockerSpawner
from traitlets import Float, Int, Unicode, default

from .network import LearnersNetwork, wait_listening
from .volumes import BoundedHomes
from .warm import WarmPoolSpawning


class SandboxedDockerSpawner(WarmPoolSpawning, BoundedHomes, LearnersNetwork, DockerSpawner):
    runtime = Unicode(
        "runsc",
        config=True,
        help="""Docker runtime for learners' containers. Default "runsc" (gVisor), registered in
        /etc/docker/daemon.json. Example: c.SandboxedDockerSpawner.runtime = "runsc"
        """,
    )

    learner_uid = Int(
        1000,
        config=True,
        help="""Uid the server runs as inside the container (the image's learner). Default 1000.
        Example: c.SandboxedDockerSpawner.learner_uid = 1000
        """,
    )

    pids_limit = Int(
        2048,
        config=True,
        help="""Most host tasks (processes and threads) one learner's container may have. Under gVisor's ptrace
        platform each running process in the sandbox costs about 20 host tasks, an idle server about 60; at the
        limit the whole sandbox dies, which is why kernels also get ``kernel_process_limit``. Default 2048.
        Example: c.SandboxedDockerSpawner.pids_limit = 2048
        """,
    )

    kernel_process_limit = Int(
        12,
        config=True,
        help="""Most processes one kernel (or terminal) may run, itself included: Python refuses to start more,
        the learner image's fork guard makes fork() fail (EAGAIN) for everything else, and a watchdog in the kernel
        ends them all if something gets past both. gVisor ignores RLIMIT_NPROC. 0: no limit.
        Default 12. Example: c.SandboxedDockerSpawner.kernel_process_limit = 32
        """,
    )

    cpu_shares = Int(
        512,
        config=True,
        help="""Relative CPU weight (Docker's default is 1024). A weight, not a quota: a tight quota triples
        Jupyter's start-up, a weight only matters when the machine is busy. Default 512.
        Example: c.SandboxedDockerSpawner.cpu_shares = 256
        """,
    )

    tmp_size = Unicode(
        "256m",
        config=True,
        help="""Size of the container's /tmp (a tmpfs; the root filesystem is read-only). Default "256m".
        Example: c.SandboxedDockerSpawner.tmp_size = "128m"
        """,
    )

    home_dir = Unicode(
        "/home/learner",
        config=True,
        help="""The learner's home inside the container, a named volume per user. Default "/home/learner".
        Example: c.SandboxedDockerSpawner.home_dir = "/home/learner"
        """,
    )

    @default("mem_limit")
    def _default_mem_limit(self):
        return "1G"

    @default("remove")
    def _default_remove(self) -> bool:
        return True  # state lives in the home volume, not in the container

    @default("prefix")
    def _default_prefix(self) -> str:
        return "studio-learner"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The hub makes a learner's spawner when it first deals with them (their first page after logging in):
        # the pool starts filling then, if it has not yet.
        if self.pooled:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # not inside the hub (a test building a spawner by hand)
            self.fill_warm_pool()

    @default("volumes")
    def _default_volumes(self) -> dict:
        # A named volume is filled from the image's home (owned by the learner) the first time it is mounted.
        return {f"{self.prefix}-home-{{username}}": self.home_dir}

    @default("notebook_dir")
    def _default_notebook_dir(self) -> str:
        return self.home_dir

    @default("extra_create_kwargs")
    def _default_extra_create_kwargs(self) -> dict:
        return {"user": str(self.learner_uid)}

    @default("extra_host_config")
    def _default_extra_host_config(self) -> dict:
        return {
            "runtime": self.runtime,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": f"size={self.tmp_size},mode=1777,nosuid,nodev"},
            "pids_limit": self.pids_limit,
            "cpu_shares": self.cpu_shares,
            # Removed by stop(), not by Docker the moment it exits: the hub must still read why it died.
            "auto_remove": False,
        }

    kernel_memory_fraction = Float(
        0.75,
        config=True,
        help="""Share of the container's memory one kernel may use (its address space is capped). Under gVisor
        a container out of memory dies whole; a kernel over its cap gets a MemoryError and the server lives on.
        Default 0.75. Example: c.SandboxedDockerSpawner.kernel_memory_fraction = 0.6
        """,
    )

    def get_env(self):
        return {**super().get_env(), **self._limits_env()}

    def _limits_env(self) -> dict[str, str]:
        env = {}
        if self.mem_limit:
            env["STUDIO_KERNEL_MEMORY"] = str(int(self.mem_limit * self.kernel_memory_fraction))
        if self.kernel_process_limit:
            env["STUDIO_KERNEL_PROCESSES"] = str(self.kernel_process_limit)
            # The learner image's fork guard (preloaded everywhere): each session (a kernel, a terminal) gets
            # EAGAIN from fork() at this many processes, where a shell's fork bomb would otherwise end the sandbox.
            env["STUDIO_SESSION_PROCESS_LIMIT"] = str(self.kernel_process_limit)
        return env

    # Why the learner's server last stopped on its own, in plain words ("" when it did not). Saved in the hub's
    # database with the spawner's state, so the hub's pages show it (studio_hub.notices) after JupyterHub has
    # replaced this spawner object, until the learner starts the server again.
    stopped_reason = ""

    def get_state(self):
        state = super().get_state()
        if self.stopped_reason:
            state["stopped_reason"] = self.stopped_reason
        if self.warm_slot:
            state["warm_slot"] = self.warm_slot
        return state

    def load_state(self, state):
        super().load_state(state)
        self.stopped_reason = state.get("stopped_reason", "")
        self.warm_slot = state.get("warm_slot", "")

    async def poll(self):
        status = await super().poll()
        if status is not None and self.container_id and not self.stopped_reason:
            # Docker keeps the container after it exits (no auto-remove), so why it ended can be read here. The hub
            # calls stop() only for servers that still run, so a dead one is removed here, once read.
            container = await self.get_object()
            if container and not container["State"]["Running"]:
                self.stopped_reason = exit_reason(container["State"], self.runtime)
                self.log.warning("%s's server stopped: %s (%s)", self.user.name, self.stopped_reason, status)
                if self.remove:
                    await self.remove_object()
                    await self._release_home()
        return status

    async def start(self):
        self.stopped_reason = ""
        await self._ensure_network_and_firewall()
        try:
            started = await self._start_warm() if self.pooled else None
            if started is None:
                if self.home_bounded:
                    await self._ensure_bounded_home()
                started = await super().start()
        finally:
            if self.pooled:
                self.fill_warm_pool()  # after this learner's start, which it would otherwise slow down
        # JupyterHub then checks the server over HTTP with a randomised back-off whose waits grow to 3.2 s: on a
        # server that needs ~4 s under gVisor that adds 0-3 s. Polling its port finely here makes its first check
        # succeed (measured in tests/bench/spawn.py).
        ip, port = started
        listening = await wait_listening(ip, port, self.http_timeout, alive=self._still_running)
        if not listening and self.stopped_reason:  # it died while starting: say why now, not after http_timeout
            raise RuntimeError(f"Your server stopped while it was starting: {self.stopped_reason}")
        return ip, port

    async def _still_running(self) -> bool:
        return await self.poll() is None

    async def stop(self, now=False):
        await super().stop(now=now)
        if self.remove:
            await self._release_home()


def exit_reason(state: dict, runtime: str) -> str:
    """A learner-readable reason for a container that stopped on its own, from Docker's ``State``."""
    code = state.get("ExitCode")
    if state.get("OOMKilled") or code == 137:
        return (
            "it ran out of memory: everything running in it together needed more than its memory limit. "
            "Check for code that keeps very large data, or starts several programs that each do."
        )
    if runtime == "runsc" and code == 2:
        # gVisor ends a sandbox that reaches its pids limit; Jupyter itself never exits with 2.
        return (
            "it ran too many processes at once (a fork bomb, or a shell loop that starts programs in the "
            "background), and the sandbox stopped."
        )
    return f"it stopped unexpectedly (exit code {code})."

"""SandboxedDockerSpawner: each learner's server in its own hardened container, run by gVisor (runsc).

DockerSpawner does the container life cycle; this class only sets hardened defaults (every one a traitlet an
operator can change), makes sure the learners' network exists before the first start (internal: no route out; no
traffic between learners), and firewalls this machine from it but for the hub API.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from docker.errors import NotFound
from dockerspawner import DockerSpawner
from traitlets import Bool, Float, Int, Unicode, default

from . import homes

# The learners' network: no route out (internal), and no traffic between learners (no ICC).
LEARNERS_NETWORK_OPTIONS = {
    "driver": "bridge",
    "internal": True,
    "options": {"com.docker.network.bridge.enable_icc": "false"},
}


class SandboxedDockerSpawner(DockerSpawner):
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

    home_size = Unicode(
        "1G",
        config=True,
        help="""Size of each learner's home: an ext4 image file of this size (sparse: it takes on disk what the
        learner wrote) on a loop device, so that a learner who fills their home gets "no space left" and the
        host's disk is untouched. Needs the hub to run as root on the Docker host. "" or "0": a plain named
        volume, unbounded. Default "1G". Example: c.SandboxedDockerSpawner.home_size = "2G"
        """,
    )

    home_images_dir = Unicode(
        "/var/lib/learning-studio/homes",
        config=True,
        help="""Folder (on the hub's machine) holding the learners' home image files when home_size is set.
        Example: c.SandboxedDockerSpawner.home_images_dir = "/srv/studio/homes"
        """,
    )

    @property
    def home_volume(self) -> str:
        return self.format_volume_name(f"{self.prefix}-home-{{username}}", self)

    @property
    def home_image(self) -> Path:
        return Path(self.home_images_dir) / f"{self.home_volume}.ext4"

    @property
    def home_bounded(self) -> bool:
        return self.home_size not in ("", "0")

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
        env = super().get_env()
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
        return state

    def load_state(self, state):
        super().load_state(state)
        self.stopped_reason = state.get("stopped_reason", "")

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

    firewall = Bool(
        True,
        config=True,
        help="""Drop every packet from the learners' network to this machine except those to the hub API
        (iptables INPUT rules, kept per network). Needs a hub running as root on the Docker host; turn off when
        the hub runs in a container and the host's firewall is managed elsewhere. Default True.
        Example: c.SandboxedDockerSpawner.firewall = False
        """,
    )

    async def start(self):
        self.stopped_reason = ""
        await self._ensure_network()
        if self.firewall:
            await self._ensure_firewall()
        if self.home_bounded:
            await self._ensure_bounded_home()
        ip, port = await super().start()
        # JupyterHub then checks the server over HTTP with a randomised back-off whose waits grow to 3.2 s: on a
        # server that needs ~4 s under gVisor that adds 0-3 s. Polling its port finely here makes its first check
        # succeed (measured in tests/bench/spawn.py).
        await wait_listening(ip, port, self.http_timeout)
        return ip, port

    async def stop(self, now=False):
        await super().stop(now=now)
        if self.remove:
            await self._release_home()

    async def _ensure_bounded_home(self) -> None:
        """The learner's home volume: their image file's current loop device, mounted as ext4 by Docker."""
        image = self.home_image
        await asyncio.to_thread(homes.ensure_image, image, self.home_size, self.learner_uid)
        device = await asyncio.to_thread(homes.attached_device, image)
        wanted = {"type": "ext4", "device": device}
        name = self.home_volume
        try:
            volume = await self.docker("inspect_volume", name)
        except NotFound:
            volume = None
        if volume and (volume.get("Options") or {}) != wanted:
            if not (volume.get("Options") or {}).get("device"):
                raise RuntimeError(f"{name} is a plain Docker volume from before homes were bounded; copy it into "
                                   f"{image} or remove it (or set home_size to \"\")")  # fmt: skip
            # Bound to a loop device that is no longer this image's (a reboot or a detach): recreate it.
            await self.docker("remove_volume", name)
            volume = None
        if volume is None:
            labels = {"org.learning-studio.home-image": str(image)}
            await self.docker("create_volume", name, driver="local", driver_opts=wanted, labels=labels)

    async def _release_home(self) -> None:
        if self.home_bounded:
            await asyncio.to_thread(homes.detach, self.home_image)

    async def _ensure_firewall(self) -> None:
        network = await self.docker("inspect_network", self.network_name)
        bridge = network.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}"
        port = urlparse(self.hub_connect_url or self.hub.api_url).port
        await asyncio.to_thread(host_firewall, bridge, f"STUDIO-{network['Id'][:12]}", [port])

    async def _ensure_network(self) -> None:
        """The learners' network: no route out (internal), and no traffic between learners (no ICC)."""
        if self.network_name in ("", "bridge", "host", "none"):
            return
        try:
            await self.docker("inspect_network", self.network_name)
        except NotFound:
            self.log.info("Creating Docker network %s for learners", self.network_name)
            await self.docker("create_network", self.network_name, **LEARNERS_NETWORK_OPTIONS, check_duplicate=True)


async def wait_listening(host: str, port: int, timeout: float, interval: float = 0.05) -> bool:
    """Wait until something accepts TCP connections on ``host:port``; False after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
        except (TimeoutError, OSError):
            await asyncio.sleep(interval)
            continue
        writer.close()
        return True
    return False


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


def host_firewall(bridge: str, chain: str, tcp_ports: list[int]) -> None:
    """Let packets from ``bridge`` reach this machine only on ``tcp_ports`` (and replies); idempotent."""

    def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=check)

    iptables("-N", chain, check=False)  # exists already: fine, it is rebuilt below
    iptables("-F", chain)
    iptables("-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    for port in tcp_ports:
        iptables("-A", chain, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT")
    iptables("-A", chain, "-j", "DROP")
    if iptables("-C", "INPUT", "-i", bridge, "-j", chain, check=False).returncode:
        iptables("-I", "INPUT", "-i", bridge, "-j", chain)


def remove_host_firewall(network_id: str) -> None:
    """Undo :func:`host_firewall` for a Docker network that is going away."""
    chain = f"STUDIO-{network_id[:12]}"
    rules = subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True).stdout.splitlines()
    for rule in rules:
        if rule.endswith(f"-j {chain}"):
            subprocess.run(["iptables", "-w", "-D", *rule.split()[1:]], capture_output=True)
    subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
    subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)

"""SandboxedDockerSpawner: each learner's server in its own hardened container, run by gVisor (runsc).

DockerSpawner does the container life cycle; this class only sets hardened defaults (every one a traitlet an
operator can change), makes sure the learners' network exists before the first start (internal: no route out; no
traffic between learners), and firewalls this machine from it but for the hub API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import docker.types
from docker.errors import APIError, NotFound
from dockerspawner import DockerSpawner
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, Int, List, Unicode, default

from . import homes

# The learners' network: no route out (internal), and no traffic between learners (no ICC).
LEARNERS_NETWORK_OPTIONS = {
    "driver": "bridge",
    "internal": True,
    "options": {"com.docker.network.bridge.enable_icc": "false"},
}


WARM_LABEL = "org.learning-studio.warm"  # on pooled containers: the fingerprint of the settings they were made with


@dataclass
class Warm:
    """A pooled container: started, Jupyter imported, waiting for its learner (studio_ext.warm)."""

    name: str
    id: str
    ip: str
    key: str
    slot: Path  # this machine's folder that is the container's /home


class WarmPool:
    """Containers started ahead of their learners, by the settings (fingerprint) they were made with."""

    def __init__(self) -> None:
        self.ready: dict[str, list[Warm]] = {}
        self.filling: asyncio.Task | None = None
        self.swept = False  # pooled containers of an earlier hub (their keys are lost) removed

    def claim(self, fingerprint: str) -> Warm | None:
        waiting = self.ready.get(fingerprint) or []
        return waiting.pop(0) if waiting else None

    def count(self, fingerprint: str) -> int:
        return len(self.ready.get(fingerprint) or [])


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

    warm_pool_size = Int(
        0,
        config=True,
        help="""How many learners' containers to keep started ahead of their learners. Under gVisor most of a
        server's start is Python importing Jupyter; a pooled container has done that already, so a learner who gets
        one waits ~0.5 s, not ~3.5 s (tests/bench/spawn.py). Each costs an idle server's memory (~115 MiB) for as
        long as it waits, and the CPU of a start just after each claim (it is refilled). Needs bounded homes
        (home_size) and a hub on the Docker host: the home is mounted on this machine into the running container.
        Pooled containers are made before their learner is known: per-learner templates ({username}) in
        extra_host_config or extra_create_kwargs are not rendered for them; use no pool with those. 0: no pool.
        Example: c.SandboxedDockerSpawner.warm_pool_size = 2
        """,
    )

    warm_start_timeout = Float(
        180,
        config=True,
        help="""Seconds a pooled container may take to become ready before it is given up. Default 180.
        Example: c.SandboxedDockerSpawner.warm_start_timeout = 120
        """,
    )

    _pool = WarmPool()  # one per hub, shared by every learner's spawner

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

    warm_slot = ""  # this machine's folder that is the container's /home, for a server from the pool

    @property
    def warm_slots_dir(self) -> Path:
        return Path(self.home_images_dir) / "warm"

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

    firewall = Bool(
        True,
        config=True,
        help="""Drop every packet from the learners' network to this machine except those to the hub API
        (iptables INPUT rules, kept per network). Needs a hub running as root on the Docker host; turn off when
        the hub runs in a container and the host's firewall is managed elsewhere. Default True.
        Example: c.SandboxedDockerSpawner.firewall = False
        """,
    )
    host_ports = List(
        Int(),
        config=True,
        help="""TCP ports of this machine that learners may reach besides the hub API's (the firewall drops the
        rest): the hub-managed services they call directly, such as the exchange. Default [] (only the hub API).
        Example: c.SandboxedDockerSpawner.host_ports = [8083]
        """,
    )

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

    # --- the warm pool ----------------------------------------------------------------------------------------

    @property
    def pooled(self) -> bool:
        return self.warm_pool_size > 0 and self.home_bounded

    def _warm_spec(self, image_id: str = "") -> tuple[dict, str]:
        """How pooled containers for this spawner's settings are made (nothing of its learner in it); and its hash,
        which also covers ``image_id``: a tag rebuilt (images/build.sh) is another image."""
        # Only what every learner shares: the learner's own environment comes with the assignment.
        env = {k: v for k, v in self.environment.items() if isinstance(v, str)} | self._limits_env()
        host = {
            **self.extra_host_config,
            "mem_limit": self.mem_limit,
            "network_mode": self.network_name,
            "binds": {src: {"bind": dst, "mode": "ro"} for src, dst in self.read_only_volumes.items()},
        }
        spec = {
            "image": self.image,
            "environment": env,
            "command": ["studio-warm-server"],
            "ports": [self.port],
            **self.extra_create_kwargs,
            "host": host,
        }
        identity = json.dumps([spec, image_id], sort_keys=True, default=str)
        return spec, hashlib.sha256(identity.encode()).hexdigest()[:16]

    async def _current_warm_spec(self) -> tuple[dict, str]:
        image = await self.docker("inspect_image", self.image)
        return self._warm_spec(image["Id"])

    def fill_warm_pool(self) -> None:
        """Start filling the pool up to warm_pool_size in the background, one container at a time."""
        pool = self._pool
        if pool.filling is None or pool.filling.done():
            pool.filling = asyncio.ensure_future(self._fill_warm_pool())

    async def _fill_warm_pool(self) -> None:
        try:
            spec, fingerprint = await self._current_warm_spec()
            await self._ensure_network_and_firewall()
            await asyncio.to_thread(homes.ensure_shared_mount, self.warm_slots_dir)
            if not self._pool.swept:
                await self._sweep_warm()
                self._pool.swept = True
        except Exception:
            self.log.exception("Warm pool: cannot prepare %s; learners get a full start", self.warm_slots_dir)
            return
        for stale in [fp for fp in self._pool.ready if fp != fingerprint]:  # another image or other settings
            for warm in self._pool.ready.pop(stale):
                self.log.info("Warm pool: retiring %s (made with other settings or an older image)", warm.name)
                await self._discard_warm(warm)
        failures = 0
        while self._pool.count(fingerprint) < self.warm_pool_size and failures < 3:
            try:
                warm = await self._create_warm(spec, fingerprint)
            except Exception:
                failures += 1
                self.log.exception("Could not start a pooled learner's container (attempt %i)", failures)
                continue
            self._pool.ready.setdefault(fingerprint, []).append(warm)
            self.log.info("Warm pool: %s ready (%i waiting)", warm.name, self._pool.count(fingerprint))

    async def _create_warm(self, spec: dict, fingerprint: str) -> Warm:
        name = f"{self.prefix}-warm-{secrets.token_hex(6)}"
        slot = self.warm_slots_dir / name
        (slot / PurePosixPath(self.home_dir).name).mkdir(parents=True)  # root's until the home is mounted on it
        key = secrets.token_urlsafe(32)
        host = dict(spec["host"])
        home_parent = str(PurePosixPath(self.home_dir).parent)
        host["mounts"] = [docker.types.Mount(home_parent, str(slot), type="bind", propagation="rslave")]
        create = {k: v for k, v in spec.items() if k != "host"}
        create["environment"] = {**spec["environment"], "STUDIO_WARM_KEY": key, "STUDIO_WARM_PORT": str(self.port)}
        create["labels"] = {WARM_LABEL: fingerprint}
        obj = await self.docker(
            "create_container", name=name, host_config=self.client.create_host_config(**host), **create
        )
        try:
            await self.docker("start", obj["Id"])
            info = await self.docker("inspect_container", obj["Id"])
            ip = info["NetworkSettings"]["Networks"][self.network_name]["IPAddress"]
            if not await wait_listening(ip, self.port, self.warm_start_timeout):  # it listens once Jupyter is in
                raise TimeoutError(f"{name} was not ready within {self.warm_start_timeout:.0f} s")
        except BaseException:
            await self._discard_warm(Warm(name, obj["Id"], "", key, slot))
            raise
        return Warm(name, obj["Id"], ip, key, slot)

    async def _discard_warm(self, warm: Warm) -> None:
        try:
            await self.docker("remove_container", warm.id, force=True)
        except APIError as e:
            if e.status_code != 404:
                raise
        await free_slot(warm.slot)

    async def _sweep_warm(self) -> None:
        """Remove pooled containers an earlier hub left waiting (this hub does not know their keys)."""
        for info in await self.docker("containers", all=True, filters={"label": WARM_LABEL}):
            name = info["Names"][0].lstrip("/")
            if name.startswith(f"{self.prefix}-warm-"):
                self.log.info("Warm pool: removing %s, left by an earlier hub", name)
                await self._discard_warm(Warm(name, info["Id"], "", "", self.warm_slots_dir / name))

    async def _start_warm(self) -> tuple[str, int] | None:
        """Hand a pooled container to this learner: mount their home in it, name it theirs, tell it who they are."""
        _, fingerprint = await self._current_warm_spec()
        warm = self._pool.claim(fingerprint)
        if warm is None:
            return None
        self.log.info("Warm pool: %s goes to %s", warm.name, self.user.name)
        try:
            image = self.home_image
            await asyncio.to_thread(homes.ensure_image, image, self.home_size, self.learner_uid)
            device = await asyncio.to_thread(homes.attached_device, image)
            await asyncio.to_thread(homes.mount, device, warm.slot / PurePosixPath(self.home_dir).name)
            self.warm_slot = str(warm.slot)
            if await self.get_object():  # a container of theirs the hub had lost track of
                await self.remove_object()
            await self.docker("rename", warm.id, self.object_name)
            self.object_id = warm.id
            argv = (await self.get_command())[1:]
            body = json.dumps({"env": self.get_env(), "argv": argv, "home": self.home_dir})
            await AsyncHTTPClient().fetch(
                f"http://{warm.ip}:{self.port}/studio-warm/assign",
                method="POST",
                headers={"Authorization": f"token {warm.key}"},
                body=body,
                request_timeout=30,
            )
        except (OSError, RuntimeError, APIError, HTTPClientError):
            self.log.exception("Warm pool: %s could not be handed to %s; starting a new one", warm.name, self.user.name)
            await self._discard_warm(warm)
            self.object_id, self.warm_slot = "", ""
            return None
        return warm.ip, self.port

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
                raise RuntimeError(
                    f"{name} is a plain Docker volume from before homes were bounded; copy it into "
                    f'{image} or remove it (or set home_size to "")'
                )
            # Bound to a loop device that is no longer this image's (a reboot or a detach): recreate it.
            await self.docker("remove_volume", name)
            volume = None
        if volume is None:
            labels = {"org.learning-studio.home-image": str(image)}
            await self.docker("create_volume", name, driver="local", driver_opts=wanted, labels=labels)

    async def _release_home(self) -> None:
        if self.warm_slot:
            await free_slot(Path(self.warm_slot))
            self.warm_slot = ""
        if self.home_bounded:
            await asyncio.to_thread(homes.detach, self.home_image)

    async def _ensure_network_and_firewall(self) -> None:
        await self._ensure_network()
        if self.firewall:
            await self._ensure_firewall()

    async def _ensure_firewall(self) -> None:
        network = await self.docker("inspect_network", self.network_name)
        bridge = network.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}"
        port = urlparse(self.hub_connect_url or self.hub.api_url).port
        ports = [port, *(p for p in self.host_ports if p != port)]
        await asyncio.to_thread(host_firewall, bridge, f"STUDIO-{network['Id'][:12]}", ports)

    async def _ensure_network(self) -> None:
        """The learners' network: no route out (internal), and no traffic between learners (no ICC)."""
        if self.network_name in ("", "bridge", "host", "none"):
            return
        try:
            await self.docker("inspect_network", self.network_name)
        except NotFound:
            self.log.info("Creating Docker network %s for learners", self.network_name)
            await self.docker("create_network", self.network_name, **LEARNERS_NETWORK_OPTIONS, check_duplicate=True)


async def free_slot(slot: Path) -> None:
    """A warm container's slot folder, done with: the home unmounted from it, then the folder removed."""
    await asyncio.to_thread(homes.unmount_all, slot)
    await asyncio.to_thread(shutil.rmtree, slot, True)


async def wait_listening(host: str, port: int, timeout: float, interval: float = 0.05, alive=None) -> bool:
    """Wait until something accepts TCP connections on ``host:port``; False after ``timeout`` seconds, or as soon
    as ``alive()`` (awaited about once a second) says what should listen there is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_check = loop.time() + 1
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
        except (TimeoutError, OSError):
            if alive is not None and loop.time() >= next_check:
                if not await alive():
                    return False
                next_check = loop.time() + 1
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


# One rebuild at a time in this hub: starts run this from threads, and two rebuilds interleaving (one flushing while
# the other adds) could leave the DROP ahead of the hub API's ACCEPT, cutting every learner off from the hub.
_FIREWALL = threading.Lock()


def host_firewall(bridge: str, chain: str, tcp_ports: list[int]) -> None:
    """Let packets from ``bridge`` reach this machine only on ``tcp_ports`` over IPv4 (and replies), and nothing
    over IPv6 (learners reach the hub over IPv4; a container's link-local IPv6 address would otherwise reach
    whatever listens on this machine's ``::``); idempotent."""
    established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
    rules = [established, *(["-p", "tcp", "--dport", str(port), "-j", "ACCEPT"] for port in tcp_ports), ["-j", "DROP"]]
    _chain("iptables", bridge, chain, rules)
    if (
        shutil.which("ip6tables")
        and subprocess.run(["ip6tables", "-w", "-S", "INPUT"], capture_output=True).returncode == 0
    ):
        _chain("ip6tables", bridge, chain, [established, ["-j", "DROP"]])


def _chain(tool: str, bridge: str, chain: str, rules: list[list[str]]) -> None:
    def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([tool, "-w", *args], capture_output=True, text=True, check=check)

    with _FIREWALL:
        listed = iptables("-S", chain, check=False)
        in_place = listed.returncode == 0 and len(listed.stdout.splitlines()) == 1 + len(rules)
        if not (in_place and all(iptables("-C", chain, *rule, check=False).returncode == 0 for rule in rules)):
            # Missing or different (a first start, another hub port): build it. Only then is there a moment
            # without the DROP, and the rules are added in order, the DROP last.
            iptables("-N", chain, check=False)  # exists already: fine, it is rebuilt below
            iptables("-F", chain)
            for rule in rules:
                iptables("-A", chain, *rule)
        if iptables("-C", "INPUT", "-i", bridge, "-j", chain, check=False).returncode:
            iptables("-I", "INPUT", "-i", bridge, "-j", chain)


def remove_host_firewall(network_id: str) -> None:
    """Undo :func:`host_firewall` for a Docker network that is going away."""
    chain = f"STUDIO-{network_id[:12]}"
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        rules = subprocess.run([tool, "-w", "-S", "INPUT"], capture_output=True, text=True).stdout.splitlines()
        for rule in rules:
            if rule.endswith(f"-j {chain}"):
                subprocess.run([tool, "-w", "-D", *rule.split()[1:]], capture_output=True)
        subprocess.run([tool, "-w", "-F", chain], capture_output=True)
        subprocess.run([tool, "-w", "-X", chain], capture_output=True)

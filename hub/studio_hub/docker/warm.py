"""The warm pool: learners' containers started ahead of their learners, handed over at login.

Under gVisor most of a server's start is Python importing Jupyter; a pooled container has done that already and
waits (``studio_ext.warm``) until the hub mounts a learner's home in it and tells it who they are.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docker.types
from docker.errors import APIError
from studio_wire import http
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .. import homes
from .network import wait_listening
from .volumes import free_slot

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
        self.removed_at_exit = False  # the hub removes what still waits when it stops

    def claim(self, fingerprint: str) -> Warm | None:
        waiting = self.ready.get(fingerprint) or []
        return waiting.pop(0) if waiting else None

    def count(self, fingerprint: str) -> int:
        return len(self.ready.get(fingerprint) or [])


class WarmPoolSpawning(LoggingConfigurable):
    """Part of SandboxedDockerSpawner: starts from the warm pool, and keeps it filled."""

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
    warm_slot = ""  # this machine's folder that is the container's /home, for a server from the pool
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
            if not self._pool.removed_at_exit:
                # Nothing of the pool outlives the hub: its keys die with it, so a next hub could only remove them.
                atexit.register(remove_waiting, self.client, self.prefix, self.warm_slots_dir)
                self._pool.removed_at_exit = True
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
            async with http.async_client(30) as client:
                assign = f"http://{warm.ip}:{self.port}/studio-warm/assign"
                resp = await client.post(assign, headers={"Authorization": f"token {warm.key}"}, content=body)
                resp.raise_for_status()
        except (OSError, RuntimeError, APIError, http.Error):
            self.log.exception("Warm pool: %s could not be handed to %s; starting a new one", warm.name, self.user.name)
            await self._discard_warm(warm)
            self.object_id, self.warm_slot = "", ""
            return None
        return warm.ip, self.port


def remove_waiting(client, prefix: str, slots_dir: Path) -> list[str]:
    """Remove the pooled containers still waiting (as the hub stops: at exit, so blocking calls); their names."""
    removed = []
    try:
        for info in client.containers(all=True, filters={"label": WARM_LABEL}):
            name = info["Names"][0].lstrip("/")
            if name.startswith(f"{prefix}-warm-"):
                client.remove_container(info["Id"], force=True)
                homes.unmount_all(slots_dir / name)
                shutil.rmtree(slots_dir / name, ignore_errors=True)
                removed.append(name)
    except Exception:  # noqa: BLE001 -- the hub is stopping: say what is left, the next hub removes it
        logging.getLogger("JupyterHub").exception("Warm pool: could not remove every waiting container")
    if removed:
        logging.getLogger("JupyterHub").info("Warm pool: removed %s as the hub stopped", ", ".join(removed))
    return removed

"""Learners' homes with a size limit: an ext4 image file per learner on a loop device, a Docker volume bound to it.

A learner who fills their home gets "no space left" and the host's disk is untouched (``studio_hub.homes`` does
the files, loop devices and mounts).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from docker.errors import NotFound
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from .. import homes


class BoundedHomes(LoggingConfigurable):
    """Part of SandboxedDockerSpawner: each learner's home, bounded by ``home_size``."""

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


async def free_slot(slot: Path) -> None:
    """A warm container's slot folder, done with: the home unmounted from it, then the folder removed."""
    await asyncio.to_thread(homes.unmount_all, slot)
    await asyncio.to_thread(shutil.rmtree, slot, True)

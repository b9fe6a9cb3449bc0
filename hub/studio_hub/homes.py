"""Learners' homes of bounded size: one ext4 image file per learner, attached to a loop device on this machine.

Docker's local volumes have no size limit on ext4 (quotas need XFS project quotas), so a learner could fill the
disk that holds ``/var/lib/docker``. Instead each home is a sparse file holding an ext4 filesystem of a fixed size:
it takes on disk only what the learner wrote, and a full home gives the learner ENOSPC, not the host. Docker then
mounts the loop device as a local volume with ``type=ext4``.

Loop device numbers are not stable (a reboot, a detach), so the volume is checked against the image's current
device before every start and recreated when they differ: a volume never points at another learner's device.

Needs root on the Docker host (losetup, mkfs.ext4). Blocking: call from a thread.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

# One attach at a time in this hub: losetup --find retries when two race for a device, but a lock makes it plain.
_ATTACH = threading.Lock()
_SIZE = re.compile(r"^(\d+)([KMGT]?)$", re.IGNORECASE)


def size_in_bytes(size: str) -> int:
    """``"1G"`` → 1073741824; whole numbers with an optional K, M, G or T (powers of 1024)."""
    match = _SIZE.match(size.strip())
    if not match:
        raise ValueError(f"a home size is a whole number with an optional K, M, G or T, not {size!r}")
    number, unit = match.groups()
    return int(number) * 1024 ** ("KMGT".index(unit.upper()) + 1 if unit else 0)


def _run(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode not in ok:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def ensure_image(path: Path, size: str, uid: int) -> None:
    """Create ``path`` as a sparse ext4 image of ``size`` whose root directory ``uid`` owns; grow it if smaller."""
    wanted = size_in_bytes(size)
    if path.exists():
        if path.stat().st_size < wanted:  # the operator raised the size: grow the file, then the filesystem
            with path.open("r+b") as f:
                f.truncate(wanted)
            _run("e2fsck", "-f", "-p", str(path), ok=(0, 1))  # 1: fixed something (it adds lost+found back)
            _run("resize2fs", str(path))
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        f.truncate(wanted)
    # No reserved blocks (nobody else writes here); the root directory owned by the learner; and no lost+found,
    # so that Docker sees an empty volume and copies the image's home (dot files) into it on first use.
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={uid}:{uid}", str(partial))
    _run("debugfs", "-w", "-R", "rmdir lost+found", str(partial))
    partial.rename(path)  # only a complete filesystem ever has the final name


def attached_device(path: Path) -> str:
    """The loop device ``path`` is attached to, attaching it first if it is not."""
    with _ATTACH:
        found = _run("losetup", "--noheadings", "--output", "NAME", "--associated", str(path)).split()
        if found:
            return found[0]
        return _run("losetup", "--find", "--show", str(path)).strip()


def detach(path: Path) -> None:
    """Detach ``path``'s loop devices; one still mounted is detached by the kernel once unmounted (autoclear)."""
    if not path.exists():
        return
    for device in _run("losetup", "--noheadings", "--output", "NAME", "--associated", str(path)).split():
        subprocess.run(["losetup", "--detach", device], capture_output=True)


# --- Homes of warm containers (studio_hub.docker's warm pool) ---------------------------------------------------
# A pooled container starts before its learner is known, so Docker cannot mount the home. It gets instead a slot
# folder of its own as its /home, bound with "rslave" propagation, under a folder that is a shared mount point:
# the home mounted into the slot on this machine once the learner is known then appears inside the container.


def ensure_shared_mount(path: Path) -> None:
    """Make ``path`` a mount point with shared propagation (a bind mount onto itself), if it is not already."""
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    found = _run("findmnt", "--noheadings", "--output", "PROPAGATION", "--mountpoint", str(path), ok=(0, 1)).split()
    if not found:
        _run("mount", "--bind", str(path), str(path))
    if not found or "shared" not in found[0]:
        _run("mount", "--make-shared", str(path))


def mount(device: str, target: Path) -> None:
    """Mount the home on loop ``device`` at ``target`` (no set-uid programs, no device files)."""
    _run("mount", "-t", "ext4", "-o", "nosuid,nodev", device, str(target))


def unmount_all(path: Path) -> None:
    """Unmount whatever is mounted at or below ``path`` (lazily: a process still using it keeps it till it ends)."""
    listed = _run("findmnt", "--noheadings", "--list", "--output", "TARGET", ok=(0, 1)).splitlines()
    below = [t for t in listed if t == str(path) or t.startswith(f"{path}/")]
    for target in sorted(below, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", target], capture_output=True)

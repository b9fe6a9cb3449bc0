"""The hub's secret files: created on first use, readable by their owner only, never printed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and tighten it if it exists with looser permissions."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def read_or_create(path: Path, *, nbytes: int = 32) -> str:
    """Return the secret stored in ``path``, creating it (hex, mode 0600) the first time.

    The file is created with O_EXCL so two processes starting together agree on one value.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        value = path.read_text().strip()
        if not value:
            raise RuntimeError(f"secret file {path} is empty; delete it to have a new one generated") from None
        return value
    value = secrets.token_hex(nbytes)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value

"""Bounded homes for the Docker mode: real ext4 image files on real loop devices (root only)."""

from __future__ import annotations

import os
import subprocess

import pytest

from studio_hub import homes


@pytest.mark.parametrize(("size", "expected"), [("300M", 300 * 2**20), ("1G", 2**30), ("2g", 2**31), ("4096", 4096)])
def test_size_in_bytes(size, expected):
    assert homes.size_in_bytes(size) == expected


@pytest.mark.parametrize("size", ["", "1.5G", "-1G", "1GB", "lots"])
def test_bad_sizes_are_refused_plainly(size):
    with pytest.raises(ValueError, match="whole number"):
        homes.size_in_bytes(size)


def _root_listing(image) -> str:
    return subprocess.run(["debugfs", "-R", "ls -l /", str(image)], capture_output=True, text=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")
def test_an_image_is_sparse_owned_by_the_learner_attached_once_and_grows(tmp_path):
    image = tmp_path / "homes" / "studio-learner-home-ada.ext4"
    homes.ensure_image(image, "64M", 1000)
    assert image.stat().st_size == 64 * 2**20 and image.stat().st_blocks * 512 < 16 * 2**20  # sparse
    assert oct(image.parent.stat().st_mode & 0o777) == "0o700"
    listing = _root_listing(image)
    assert "lost+found" not in listing  # empty, so Docker copies the image's home into it at first use
    assert " 1000 " in listing.splitlines()[0] or "1000" in listing.split("\n", 1)[0], listing
    device = homes.attached_device(image)
    try:
        assert device.startswith("/dev/loop") and homes.attached_device(image) == device  # attached once
        subprocess.run(["mount", device, str(tmp_path)], check=True)  # noqa: S603
        try:
            (tmp_path / "kept").write_text("mine")
        finally:
            subprocess.run(["umount", str(tmp_path)], check=True)
    finally:
        homes.detach(image)
    assert not subprocess.run(["losetup", "--associated", str(image)], capture_output=True, text=True).stdout
    homes.ensure_image(image, "128M", 1000)  # the operator raised the size: grown, contents kept
    assert image.stat().st_size == 128 * 2**20
    assert "kept" in _root_listing(image)
    homes.ensure_image(image, "64M", 1000)  # never shrunk
    assert image.stat().st_size == 128 * 2**20

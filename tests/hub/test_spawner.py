"""LearnerSpawner's account mapping and isolation rules, with real Unix accounts where we are root."""

from __future__ import annotations

import os
import pwd
import secrets
import stat
import subprocess
from pathlib import Path

import pytest
from traitlets import TraitError

from studio_hub.spawner import LearnerSpawner, account_name, ensure_account

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="creating Unix accounts needs root")


@pytest.mark.parametrize(
    ("hub_name", "expected"),
    [
        ("student1", "ls-student1"),
        ("root", "ls-root"),  # never the system's root
        ("ada.lovelace", None),  # '.' is not allowed in our account names: hashed
        ("Ünïcode", None),
        ("x" * 40, None),  # too long for a Unix name
        ("-rf", "ls--rf"),
    ],
)
def test_account_names_are_prefixed_valid_and_distinct(hub_name, expected):
    name = account_name("ls-", hub_name)
    assert name.startswith("ls-") and len(name) <= 32
    assert all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in name)
    if expected:
        assert name == expected
    else:
        assert name != "ls-" + hub_name and name == account_name("ls-", hub_name)


def test_hashed_names_do_not_collide():
    assert account_name("ls-", "ada.lovelace") != account_name("ls-", "ada_lovelace.")


def test_accounts_isolation_needs_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert LearnerSpawner().isolation == "shared"
    with pytest.raises(TraitError, match=r"LearnerSpawner\.isolation"):
        LearnerSpawner(isolation="accounts")


@root_only
def test_ensure_account_creates_private_home(tmp_path: Path):
    name = f"lst-{secrets.token_hex(3)}"
    home = Path("/home") / name
    try:
        entry = ensure_account(name, home, "test learner")
        assert entry.pw_dir == str(home) and entry.pw_uid != 0
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert home.stat().st_uid == entry.pw_uid
        os.chmod(home, 0o755)  # someone loosened it: the next start tightens it again
        assert ensure_account(name, home, "test learner").pw_uid == entry.pw_uid
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        other = subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(home)], capture_output=True)
        assert other.returncode != 0  # another account cannot list it
    finally:
        subprocess.run(["userdel", "--remove", name], capture_output=True)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)


def learner(**config) -> LearnerSpawner:
    from types import SimpleNamespace

    return LearnerSpawner(user=SimpleNamespace(name="ada"), **config)


def test_shared_isolation_gives_each_learner_a_home_folder_under_one_account(tmp_path: Path):
    spawner = learner(isolation="shared", shared_home_base=str(tmp_path))
    assert spawner.home == tmp_path / "ada"
    env = spawner.user_env({})
    assert env["HOME"] == str(tmp_path / "ada") and env["USER"] == "ada"
    (tmp_path / "ada").mkdir()
    result = subprocess.run(["pwd"], preexec_fn=spawner.make_preexec_fn("ada"), capture_output=True, text=True)
    assert result.stdout.strip() == str(tmp_path / "ada")


@root_only
def test_accounts_isolation_runs_the_server_as_the_learners_account():
    prefix = f"lst{secrets.token_hex(2)}-"
    spawner = learner(isolation="accounts", user_prefix=prefix)
    assert spawner.account == f"{prefix}ada" and spawner.home == Path("/home") / f"{prefix}ada"
    try:
        entry = ensure_account(spawner.account, spawner.home, "test learner")
        env = spawner.user_env({})
        assert env == {"USER": spawner.account, "HOME": str(spawner.home), "SHELL": "/bin/bash"}
        result = subprocess.run(["sh", "-c", "id -u; id -G; pwd"], preexec_fn=spawner.make_preexec_fn("ada"),
                                capture_output=True, text=True, check=True)  # fmt: skip
        uid, gids, cwd = result.stdout.split("\n")[:3]
        assert int(uid) == entry.pw_uid != 0
        assert "0" not in gids.split()  # no root group inherited
        assert cwd == str(spawner.home)
    finally:
        subprocess.run(["userdel", "--remove", spawner.account], capture_output=True)

"""LearnerSpawner's account mapping and isolation rules, with real Unix accounts where we are root."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
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


def test_no_plain_name_takes_the_account_of_a_hashed_one():
    """Attack: register the hub name that spells another user's hashed account ("u" and the digest): their home
    would be yours."""
    victim = account_name("ls-", "ada.lovelace")
    squatter = victim.removeprefix("ls-")
    assert squatter.startswith("u") and account_name("ls-", squatter) != victim
    assert account_name("ls-", "u1234") == "ls-u1234"  # names only like it stay plain


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
        result = subprocess.run(
            ["sh", "-c", "id -u; id -G; pwd"],
            preexec_fn=spawner.make_preexec_fn("ada"),
            capture_output=True,
            text=True,
            check=True,
        )
        uid, gids, cwd = result.stdout.split("\n")[:3]
        assert int(uid) == entry.pw_uid != 0
        assert "0" not in gids.split()  # no root group inherited
        assert cwd == str(spawner.home)
    finally:
        subprocess.run(["userdel", "--remove", spawner.account], capture_output=True)


def sandboxed(tmp_path: Path, **config) -> LearnerSpawner:
    var = tmp_path / "var"
    venv = str(Path(sys.executable).parent.resolve().parent)
    return learner(sandbox="bwrap", private_paths=[str(var)], readonly_paths=[str(var / "content"), venv], **config)


@pytest.fixture
def open_tmp():
    """A temporary folder other accounts can enter (pytest's own is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="studio-open-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_sandbox_mounts_hide_private_paths_then_put_back_content_and_home(tmp_path: Path):
    spawner = sandboxed(tmp_path, isolation="shared", shared_home_base=str(tmp_path / "var/hub/homes"))
    args = spawner.sandbox_args()
    assert args[0] == "bwrap" and args[-1] == "--" and "--unshare-pid" in args and "--die-with-parent" in args
    flat = " ".join(args)
    hide, content, home = (
        flat.index(f"--tmpfs {tmp_path}/var "),
        flat.index(f"--ro-bind-try {tmp_path}/var/content"),
        flat.index(f"--bind {tmp_path}/var/hub/homes/ada"),
    )
    assert hide < content < home  # later mounts win: hide first, then put back
    assert flat.index("--ro-bind / /") < hide
    assert spawner.shell_cmd == [*args, "/bin/sh", "-c"]
    assert learner(sandbox="none").shell_cmd == []


ATTACKS = r"""
import os, pathlib, json
out = {}
def attempt(name, fn):
    try:
        out[name] = ("ok", repr(fn())[:80])
    except Exception as e:
        out[name] = ("blocked", type(e).__name__)
attempt("read_secret", lambda: pathlib.Path(SECRET).read_text())
attempt("list_private", lambda: [n for n in os.listdir(PRIVATE) if n == "secret"] or 1 / 0)
attempt("read_other_home", lambda: pathlib.Path(OTHER).read_text())
attempt("read_content", lambda: pathlib.Path(CONTENT).read_text())
attempt("write_home", lambda: pathlib.Path("mine.txt").write_text("x"))
attempt("write_system", lambda: pathlib.Path("/etc/studio-owned").write_text("x"))
attempt("write_venv", lambda: pathlib.Path(VENV, "owned").write_text("x"))
attempt("see_host_tmp", lambda: pathlib.Path(HOST_TMP).read_text())
attempt("other_processes", lambda: [p for p in os.listdir("/proc") if p.isdigit() and int(p) > 20] or 1 / 0)
print(json.dumps(out))
"""


def run_sandboxed(spawner: LearnerSpawner, tmp_path: Path, host_tmp: Path) -> dict:
    import json

    values = {
        "SECRET": tmp_path / "var/hub/secret",
        "PRIVATE": tmp_path / "var/hub",
        "OTHER": tmp_path / "var/hub/homes/bob/notes.txt",
        "CONTENT": tmp_path / "var/content/c/l.ipynb",
        "VENV": Path(sys.executable).parent,
        "HOST_TMP": host_tmp,
    }
    code = "".join(f"{k} = {str(v)!r}\n" for k, v in values.items()) + ATTACKS
    python = Path(sys.executable).parent.resolve() / "python"  # by its real path, as the hub runs servers
    script = f"{python} -c {__import__('shlex').quote(code)}"
    spawner.home.mkdir(parents=True, exist_ok=True)
    if spawner.isolation == "accounts":
        ensure_account(spawner.account, spawner.home, "test learner")
    result = subprocess.run(
        [*spawner.shell_cmd, script],
        preexec_fn=spawner.make_preexec_fn("ada"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {k: v[0] for k, v in json.loads(result.stdout).items()}


def make_var(tmp_path: Path) -> None:
    (tmp_path / "var/hub/homes/bob").mkdir(parents=True)
    (tmp_path / "var/hub/secret").write_text("s3cret")
    (tmp_path / "var/hub/homes/bob/notes.txt").write_text("bob's")
    (tmp_path / "var/content/c").mkdir(parents=True)
    (tmp_path / "var/content/c/l.ipynb").write_text("{}")
    for p in [tmp_path, *tmp_path.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


EXPECTED = {
    "read_secret": "blocked",
    "list_private": "blocked",
    "read_other_home": "blocked",
    "read_content": "ok",
    "write_home": "ok",
    "write_system": "blocked",
    "write_venv": "blocked",
    "see_host_tmp": "blocked",
    "other_processes": "blocked",
}


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_bubblewrap_blocks_what_a_shared_account_would_allow(tmp_path: Path):
    make_var(tmp_path)
    host_tmp = Path(tempfile.mkstemp(prefix="studio-host-")[1])
    spawner = sandboxed(tmp_path, isolation="shared", shared_home_base=str(tmp_path / "var/hub/homes"))
    try:
        assert run_sandboxed(spawner, tmp_path, host_tmp) == EXPECTED
        assert (tmp_path / "var/hub/homes/ada/mine.txt").exists()  # the learner's own work lands in their home
    finally:
        host_tmp.unlink()


@root_only
@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_bubblewrap_on_top_of_learner_accounts(open_tmp: Path):
    tmp_path = open_tmp
    make_var(tmp_path)
    host_tmp = Path(tempfile.mkstemp(prefix="studio-host-")[1])
    os.chmod(host_tmp, 0o644)  # readable to anyone on the host: only the private /tmp hides it
    prefix = f"lsb{secrets.token_hex(2)}-"
    spawner = sandboxed(tmp_path, isolation="accounts", user_prefix=prefix)
    try:
        assert run_sandboxed(spawner, tmp_path, host_tmp) == EXPECTED
    finally:
        host_tmp.unlink()
        subprocess.run(["userdel", "--remove", spawner.account], capture_output=True)

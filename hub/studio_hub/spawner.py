"""The embedded default's spawner: one local process per learner, isolated as well as we can without Docker.

Run by root, every learner gets their own Unix account (``<prefix><hub name>``) and a private home (mode 0700),
so learners cannot read each other's files. Run by anyone else there is one account for all, and a warning.

On top of either, when bubblewrap is installed, each server runs in its own namespaces: a read-only view of the
system, a private /tmp, its own process list (no peeking at other servers' environments, which hold their API
tokens), and the hub's private folders (secrets, databases, other learners' homes) replaced by empty ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psutil
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Enum, List, TraitError, Unicode, default, validate

# Unix account names: lower case, digits, '_' and '-', starting with a letter or '_', at most 32 characters.
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]*$")
_MAX_ACCOUNT = 32


def describe_isolation(isolation: str, sandbox: str) -> str:
    """One line for start-up messages: which isolation is in force."""
    accounts = {
        "accounts": "one Unix account per learner with a private home (mode 0700)",
        "shared": "ONE shared Unix account for all learners (not isolated by account)",
    }[isolation]
    if sandbox == "bwrap":
        return (
            f"{accounts}; bubblewrap: read-only system, private /tmp, own process list, hub files and other "
            "homes hidden"
        )
    return f"{accounts}; no bubblewrap (install the 'bubblewrap' package for namespaces)"


def shared_warning(sandbox: str) -> str:
    """What an operator must know when learners share the hub's account."""
    if sandbox == "bwrap":
        return (
            "Learners share ONE Unix account (the hub is not running as root): bubblewrap hides their homes "
            "from each other, but nothing backs it up if that fails. Start the hub as root for one account per "
            "learner."
        )
    return (
        "Learners are NOT isolated from each other: the hub is not running as root and bubblewrap is not "
        "installed, so every learner's server runs as the same Unix account and can read every other "
        "learner's files. Start it as root for one account per learner."
    )


def default_sandbox() -> str:
    return "bwrap" if shutil.which("bwrap") else "none"


def account_name(prefix: str, hub_name: str) -> str:
    """The Unix account for hub user ``hub_name``: ``prefix + name`` when that is a valid account name,
    otherwise ``prefix`` and a hash of the name (hub names may hold characters Unix names cannot)."""
    digest_length = _MAX_ACCOUNT - len(prefix) - 1
    candidate = prefix + hub_name
    # A plain name shaped like a hashed one ("u" and the digest's length of hex) is hashed too: else the hub user
    # named so would share the account of the user whose name hashes to it.
    hashed_shape = re.fullmatch(f"u[0-9a-f]{{{digest_length}}}", hub_name)
    if _ACCOUNT_RE.match(candidate) and len(candidate) <= _MAX_ACCOUNT and not hashed_shape:
        return candidate
    digest = hashlib.sha256(hub_name.encode()).hexdigest()[:digest_length]
    return f"{prefix}u{digest}"


def ensure_account(name: str, home: Path, comment: str) -> pwd.struct_passwd:
    """Create the Unix account ``name`` with a private home if it does not exist; keep its home 0700."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/bash",
                "--user-group",
                "--comment",
                comment,
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        entry = pwd.getpwnam(name)
    os.makedirs(entry.pw_dir, mode=0o700, exist_ok=True)
    os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
    os.chmod(entry.pw_dir, 0o700)
    return entry


class LearnerSpawner(LocalProcessSpawner):
    """Start each learner's Jupyter server as a local process, isolated by Unix account when possible."""

    isolation = Enum(
        ["accounts", "shared"],
        config=True,
        help="""How learners are kept apart.

        "accounts": one Unix account per learner with a private home (mode 0700); needs a root hub.
        "shared": every learner runs as the hub's own account, in a home folder of their own, NOT isolated.
        Default: "accounts" when the hub runs as root, else "shared".
        Example: c.LearnerSpawner.isolation = "accounts"
        """,
    )

    @default("isolation")
    def _default_isolation(self) -> str:
        return "accounts" if os.geteuid() == 0 else "shared"

    @validate("isolation")
    def _check_isolation(self, proposal):
        if proposal.value == "accounts" and os.geteuid() != 0:
            raise TraitError(
                'LearnerSpawner.isolation = "accounts" needs a hub running as root; '
                'use "shared" (not isolated) or start the hub as root'
            )
        return proposal.value

    user_prefix = Unicode(
        "ls-",
        config=True,
        help="""Prefix of learners' Unix accounts, so that no hub name can map onto a system account
        such as root. Default "ls-". Example: c.LearnerSpawner.user_prefix = "learner-"
        """,
    )

    account_home_base = Unicode(
        "/home",
        config=True,
        help="""Folder holding learners' homes in "accounts" isolation (home = <base>/<account>).
        Default "/home". Example: c.LearnerSpawner.account_home_base = "/srv/learners"
        """,
    )

    shared_home_base = Unicode(
        config=True,
        help="""Folder holding learners' homes in "shared" isolation (home = <base>/<hub name>).
        Default: "learner-homes" in the hub's working directory.
        Example: c.LearnerSpawner.shared_home_base = "/srv/jupyterhub/homes"
        """,
    )

    @default("shared_home_base")
    def _default_shared_home_base(self) -> str:
        return os.path.abspath("learner-homes")

    sandbox = Enum(
        ["bwrap", "none"],
        config=True,
        help="""Namespaces around each learner's server. "bwrap": bubblewrap (read-only system, private /tmp,
        own process list, `private_paths` hidden); "none": a plain process.
        Default: "bwrap" when the bwrap command exists. Example: c.LearnerSpawner.sandbox = "bwrap"
        """,
    )

    @default("sandbox")
    def _default_sandbox(self) -> str:
        return default_sandbox()

    private_paths = List(
        Unicode(),
        config=True,
        help="""Folders a learner's server sees as empty (bwrap only): the hub's data, secrets and databases.
        The learner's own home and `readonly_paths` are put back inside them.
        Example: c.LearnerSpawner.private_paths = ["/srv/jupyterhub", "/srv/portal"]
        """,
    )

    readonly_paths = List(
        Unicode(),
        config=True,
        help="""Folders a learner's server may read even inside `private_paths` (bwrap only), read-only.
        Example: c.LearnerSpawner.readonly_paths = ["/srv/course-content"]
        """,
    )

    @default("shell_cmd")
    def _default_shell_cmd(self) -> list[str]:
        return [*self.sandbox_args(), "/bin/sh", "-c"] if self.sandbox == "bwrap" else []

    def sandbox_args(self) -> list[str]:
        """The bwrap command line (up to its ``--``) for this learner's server."""
        home = str(self.home)
        home_base = self.account_home_base if self.isolation == "accounts" else self.shared_home_base
        args = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/var/tmp",
            "--tmpfs",
            "/dev/shm",
        ]
        # Later mounts land on top of earlier ones: hide first, then put back what the learner may see.
        for path in [*self.private_paths, home_base]:
            args += ["--tmpfs", path]
        for path in self.readonly_paths:
            args += ["--ro-bind-try", path, path]
        return [*args, "--bind", home, home, "--chdir", home, "--"]

    async def stop(self, now: bool = False):
        # bwrap does not pass signals on: ask the server inside to shut down, then let the usual escalation
        # (SIGINT, SIGTERM, SIGKILL to bwrap, which takes everything inside with it) finish the job.
        inside = self.sandbox == "bwrap" and not now and self.pid
        if inside and await asyncio.to_thread(self._signal_server_inside, signal.SIGTERM):
            await self.wait_for_death(self.term_timeout)
        return await super().stop(now=now)

    def _signal_server_inside(self, sig: int) -> bool:
        try:
            inside = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return False
        servers = [p for p in inside if any("jupyterhub-singleuser" in part for part in _cmdline(p))]
        for proc in servers:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        return bool(servers)

    @property
    def account(self) -> str:
        return account_name(self.user_prefix, self.user.name)

    @property
    def home(self) -> Path:
        if self.isolation == "accounts":
            return Path(self.account_home_base) / self.account
        return Path(self.shared_home_base) / self.user.name

    async def start(self):
        if self.isolation == "accounts":
            comment = f"Learning Studio learner {self.user.name}"
            await asyncio.to_thread(ensure_account, self.account, self.home, comment)
        else:
            self.log.warning(shared_warning(self.sandbox))
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return await super().start()

    def make_preexec_fn(self, name):
        if self.isolation == "accounts":
            return set_user_setuid(self.account)
        home = str(self.home)
        return lambda: os.chdir(home)

    def user_env(self, env):
        env["USER"] = self.account if self.isolation == "accounts" else self.user.name
        env["HOME"] = str(self.home)
        env["SHELL"] = "/bin/bash"
        return env


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []

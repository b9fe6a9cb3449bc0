"""The embedded default's spawner: one local process per learner.

Run by root, every learner gets their own Unix account (``<prefix><hub name>``) and a private home (mode 0700),
so learners cannot read each other's files. Run by anyone else there is one account for all: each learner gets
a home folder of their own, but nothing stops one learner's code from reading another's — a warning says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import subprocess
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Enum, TraitError, Unicode, default, validate

# Unix account names: lower case, digits, '_' and '-', starting with a letter or '_', at most 32 characters.
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]*$")
_MAX_ACCOUNT = 32

SHARED_WARNING = (
    "Learners are NOT isolated from each other: the hub is not running as root, so every learner's server runs "
    "as the same Unix account and can read every other learner's files. Start it as root for one account per "
    "learner."
)


def account_name(prefix: str, hub_name: str) -> str:
    """The Unix account for hub user ``hub_name``: ``prefix + name`` when that is a valid account name,
    otherwise ``prefix`` and a hash of the name (hub names may hold characters Unix names cannot)."""
    candidate = prefix + hub_name
    if _ACCOUNT_RE.match(candidate) and len(candidate) <= _MAX_ACCOUNT:
        return candidate
    digest = hashlib.sha256(hub_name.encode()).hexdigest()[: _MAX_ACCOUNT - len(prefix) - 1]
    return f"{prefix}u{digest}"


def ensure_account(name: str, home: Path, comment: str) -> pwd.struct_passwd:
    """Create the Unix account ``name`` with a private home if it does not exist; keep its home 0700."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", "--user-group",
             "--comment", comment, name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
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
            self.log.warning(SHARED_WARNING)
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

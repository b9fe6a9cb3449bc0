"""A learner attacks from inside their gVisor container: privileges, files, disk, tokens. Every attack fails, and
the hub and a second learner keep working."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from studio_hub import homes
from tests.docker.conftest import HOME_SIZE, new_learner
from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.docker

ATTACKS = r"""
import errno, json, os, subprocess, urllib.request, urllib.error
result = {}

# Privileges: no way to root, whatever is setuid in the image.
import ctypes
result["no_new_privs"] = str(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS
try:
    os.setuid(0)
    result["setuid0"] = "became root"
except PermissionError:
    result["setuid0"] = "refused"
setuid_bins = [os.path.join(d, f) for d in ("/bin", "/usr/bin", "/sbin", "/usr/sbin") if os.path.isdir(d)
               for f in os.listdir(d) if os.stat(os.path.join(d, f)).st_mode & 0o4000]
result["setuid_binaries"] = len(setuid_bins)
su = subprocess.run(["su", "-c", "id -u", "root"], input="\n", capture_output=True, text=True)
result["su"] = su.stdout.strip() or "refused"
mount = subprocess.run(["mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True, text=True)
result["mount"] = "mounted" if mount.returncode == 0 else "refused"

# Files: only home and /tmp are writable.
def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.remove(path)
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
result["writes"] = {p: write(p) for p in ["/etc/evil", "/usr/local/bin/evil", "/opt/studio/bin/evil",
                                         "/srv/content/evil", "/var/tmp/evil", "/root/evil",
                                         os.path.expanduser("~/mine"), "/tmp/mine"]}

# Disk: write 1 MiB blocks until `mib` are written or the disk refuses; returns (how it ended, MiB written).
def fill(path, mib):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(b"\0" * 2**20)
                f.flush()
                written += 1
        return f"filled {mib} MiB", written
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno)), written

# /tmp is bounded (a tmpfs), so filling it fails with ENOSPC long before the host notices.
result["tmp_fill"], result["tmp_fill_mib"] = fill("/tmp/fill", 1024)
os.remove("/tmp/fill")
# Home is bounded too (an ext4 image of its own), and a full home gives its owner ENOSPC, not the host.
result["home_fill"], result["home_fill_mib"] = fill(os.path.expanduser("~/fill"), 2048)
result["home_dotfiles"] = sorted(f for f in os.listdir(os.path.expanduser("~")) if f.startswith(".bash"))
os.remove(os.path.expanduser("~/fill"))
with open(os.path.expanduser("~/after"), "w") as f:  # room again once the learner deletes the big file
    result["home_after"] = f.write("ok")

# Other learners' homes: not in this container at all (each home is a volume of its own container).
result["homes"] = sorted(os.listdir("/home"))
result["docker_volumes"] = os.path.exists("/var/lib/docker")

# Secrets: the environment carries this server's own token and nothing of the hub's or the portal's.
result["env_secrets"] = sorted(k for k in os.environ if any(s in k for s in (
    "COOKIE", "CRYPT", "CONFIGPROXY", "CLIENT_SECRET", "DATABASE", "PASSWORD", "SECRET_KEY"))
    and k != "JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED")  # a flag, not a secret

# Tokens: this server's token reads its owner only; another learner's data and tokens are refused.
api, token = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
def hub(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, headers={"Authorization": "token " + token},
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
me = os.environ["JUPYTERHUB_USER"]
result["hub"] = {
    "own user": hub("GET", "/users/" + me),
    "other user": hub("GET", "/users/" + OTHER),
    "other's tokens": hub("GET", "/users/" + OTHER + "/tokens"),
    "new token for other": hub("POST", "/users/" + OTHER + "/tokens", {}),
    "new token for self": hub("POST", "/users/" + me + "/tokens", {}),
    "stop other's server": hub("DELETE", "/users/" + OTHER + "/server"),
    "list users": hub("GET", "/users"),
    "make self admin": hub("PATCH", "/users/" + me, {"admin": True}),
}
print(json.dumps(result))
"""


def test_privileges_files_disk_and_tokens_stay_out_of_reach(docker_stack):
    victim = Visitor(docker_stack)
    victim.login("bystander", new_learner(docker_stack, "bystander"))
    assert victim.open_lesson("intro-python", "values-and-names").status_code == 200
    v = Visitor(docker_stack)
    v.login("intruder", new_learner(docker_stack, "intruder"))
    assert v.open_lesson("intro-python", "values-and-names").status_code == 200

    out = run_in_kernel(v, docker_stack.user_url("intruder"), f"OTHER = 'bystander'\n{ATTACKS}", timeout=120)
    assert out["status"] == "ok", out
    r = json.loads(out["stdout"])
    print("\n" + json.dumps(r, indent=1))
    assert r["no_new_privs"] == "1" and r["setuid0"] == "refused"
    assert r["su"] != "0" and r["mount"] == "refused"
    writes = r["writes"]
    assert writes.pop("/tmp/mine") == "written" and writes.pop([k for k in writes if k.endswith("/mine")][0]) == (
        "written"
    )
    assert all(v in ("EROFS", "EACCES", "EPERM") for v in writes.values()), writes
    assert r["tmp_fill"] == "ENOSPC" and r["tmp_fill_mib"] <= 256
    home_mib = homes.size_in_bytes(HOME_SIZE) // 2**20
    assert r["home_fill"] == "ENOSPC" and 0.8 * home_mib <= r["home_fill_mib"] <= home_mib, r  # ext4 keeps ~10%
    assert r["home_after"] == 2 and ".bashrc" in r["home_dotfiles"]  # the image's home was copied in at first use
    image = Path(docker_stack.var) / "hub" / "home-images" / f"{docker_stack.container_prefix}-home-intruder.ext4"
    assert image.stat().st_size == homes.size_in_bytes(HOME_SIZE)  # the file holding it never grows
    assert r["env_secrets"] == []
    assert r["homes"] == ["learner"] and r["docker_volumes"] is False  # no way to another learner's home
    hub = r["hub"]
    assert hub.pop("own user") == 200
    assert all(code in (403, 404) for code in hub.values()), hub

    # The hub and the other learner are unaffected.
    t0 = time.monotonic()
    again = run_in_kernel(victim, docker_stack.user_url("bystander"), "print(6 * 7)", timeout=150)
    print(f"bystander's new kernel answered in {time.monotonic() - t0:.1f} s")
    assert again["stdout"].strip() == "42", (again["status"], again)
    assert urlparse(victim.follow(f"{docker_stack.hub_url}/hub/home").url).path == "/hub/home"

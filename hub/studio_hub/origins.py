"""Per-user origins: the DNS label of each learner's server and each service under the hub's host.

JupyterHub serves a user's server at ``<label>.<host>`` and a service at ``<label>--service.<host>`` once
``subdomain_host`` is set. Its default naming hook keeps capitals ("Casey" → ``Casey.localhost``), but host names
are compared without case: the portal's users "Casey" and "casey" would share one origin, and each one's pages
could script the other's server. Ours gives every name a label of its own, compared as browsers compare hosts.
"""

from __future__ import annotations

import hashlib
import re

_PLAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


def label_of(name: str) -> str:
    """A name that is already a lower-case DNS label (no ``--``) is its own label; any other becomes
    ``<stem>-u--<hash>``: only such labels contain ``--``, and the hash is of the exact name, case included."""
    if _PLAIN.fullmatch(name) and "--" not in name:
        return name
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{stem}-u--{digest}" if stem else f"u--{digest}"


def subdomain_hook(name: str, domain: str, kind: str) -> str:
    """``JupyterHub.subdomain_hook``: users at ``<label>.<domain>``, services at ``<label>--service.<domain>``
    (user labels that contain ``--`` end in a hexadecimal hash, so never in ``--service``)."""
    label = label_of(name)
    return f"{label}.{domain}" if kind == "user" else f"{label}--{kind}.{domain}"

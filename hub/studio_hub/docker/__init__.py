"""Learners' servers in Docker containers run by gVisor: the spawner and its parts.

- ``spawner``: SandboxedDockerSpawner, DockerSpawner with hardened defaults (``c.JupyterHub.spawner_class``)
- ``warm``: the warm pool of containers started ahead of their learners
- ``volumes``: learners' homes with a size limit
- ``network``: the learners' network, this machine's firewall against it, waiting for a container to listen
"""

from .network import LEARNERS_NETWORK_OPTIONS, host_firewall, remove_host_firewall, wait_listening
from .spawner import SandboxedDockerSpawner, exit_reason
from .volumes import free_slot
from .warm import Warm, WarmPool

__all__ = [
    "LEARNERS_NETWORK_OPTIONS",
    "SandboxedDockerSpawner",
    "Warm",
    "WarmPool",
    "exit_reason",
    "free_slot",
    "host_firewall",
    "remove_host_firewall",
    "wait_listening",
]

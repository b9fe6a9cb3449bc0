"""``studio-hub-docker``: start the hub of a docker-compose deployment.

The hub runs in the host's network namespace (it drives the host's firewall for the learners' network, and the
proxy reaches learners' containers by their addresses). Before JupyterHub starts, the learners' network must
exist, because the hub API listens on its gateway and nowhere else: learners reach the hub, the outside world
does not reach its API.
"""

from __future__ import annotations

import os
import sys

import docker
from docker.errors import NotFound

from .docker import LEARNERS_NETWORK_OPTIONS


def learners_gateway(client: docker.DockerClient, name: str) -> str:
    """Create the learners' network if missing; return its gateway address."""
    try:
        network = client.networks.get(name)
    except NotFound:
        network = client.networks.create(name, **LEARNERS_NETWORK_OPTIONS, check_duplicate=True)
    network.reload()
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), "")
    if not gateway:
        raise SystemExit(f"Docker network {name!r} has no gateway address; remove it and start again")
    return gateway


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    network = os.environ.get("STUDIO_DOCKER_NETWORK", "studio-learners")
    port = os.environ.get("STUDIO_HUB_API_PORT", "8081")
    gateway = learners_gateway(docker.from_env(), network)
    api = f"http://{gateway}:{port}"
    os.environ["STUDIO_HUB_BIND_URL"] = os.environ["STUDIO_HUB_CONNECT_URL"] = api
    os.environ["STUDIO_SPAWNER"] = "docker"
    print(f"learners' network {network}: hub API on {api}", flush=True)
    os.execvp("jupyterhub", ["jupyterhub", *argv])

"""The learners' network, this machine's firewall against it, and waiting for a container to listen on it.

Learners' containers share one Docker network with no route out (internal) and no traffic between learners (no
ICC); iptables rules, one chain per network, drop every packet from it to this machine except to the hub API and
the ports an operator opens (``host_ports``).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from urllib.parse import urlparse

from docker.errors import NotFound
from traitlets import Bool, Int, List
from traitlets.config import LoggingConfigurable

# The learners' network: no route out (internal), and no traffic between learners (no ICC).
LEARNERS_NETWORK_OPTIONS = {
    "driver": "bridge",
    "internal": True,
    "options": {"com.docker.network.bridge.enable_icc": "false"},
}


class LearnersNetwork(LoggingConfigurable):
    """Part of SandboxedDockerSpawner: the learners' network exists, and this machine is firewalled from it."""

    firewall = Bool(
        True,
        config=True,
        help="""Drop every packet from the learners' network to this machine except those to the hub API
        (iptables INPUT rules, kept per network). Needs a hub running as root on the Docker host; turn off when
        the hub runs in a container and the host's firewall is managed elsewhere. Default True.
        Example: c.SandboxedDockerSpawner.firewall = False
        """,
    )
    host_ports = List(
        Int(),
        config=True,
        help="""TCP ports of this machine that learners may reach besides the hub API's (the firewall drops the
        rest): the hub-managed services they call directly, such as the exchange. Default [] (only the hub API).
        Example: c.SandboxedDockerSpawner.host_ports = [8083]
        """,
    )

    async def _ensure_network_and_firewall(self) -> None:
        await self._ensure_network()
        if self.firewall:
            await self._ensure_firewall()

    async def _ensure_firewall(self) -> None:
        network = await self.docker("inspect_network", self.network_name)
        bridge = network.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}"
        port = urlparse(self.hub_connect_url or self.hub.api_url).port
        ports = [port, *(p for p in self.host_ports if p != port)]
        await asyncio.to_thread(host_firewall, bridge, f"STUDIO-{network['Id'][:12]}", ports)

    async def _ensure_network(self) -> None:
        """The learners' network: no route out (internal), and no traffic between learners (no ICC)."""
        if self.network_name in ("", "bridge", "host", "none"):
            return
        try:
            await self.docker("inspect_network", self.network_name)
        except NotFound:
            self.log.info("Creating Docker network %s for learners", self.network_name)
            await self.docker("create_network", self.network_name, **LEARNERS_NETWORK_OPTIONS, check_duplicate=True)


async def wait_listening(host: str, port: int, timeout: float, interval: float = 0.05, alive=None) -> bool:
    """Wait until something accepts TCP connections on ``host:port``; False after ``timeout`` seconds, or as soon
    as ``alive()`` (awaited about once a second) says what should listen there is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_check = loop.time() + 1
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
        except (TimeoutError, OSError):
            if alive is not None and loop.time() >= next_check:
                if not await alive():
                    return False
                next_check = loop.time() + 1
            await asyncio.sleep(interval)
            continue
        writer.close()
        return True
    return False


# One rebuild at a time in this hub: starts run this from threads, and two rebuilds interleaving (one flushing while
# the other adds) could leave the DROP ahead of the hub API's ACCEPT, cutting every learner off from the hub.
_FIREWALL = threading.Lock()


def host_firewall(bridge: str, chain: str, tcp_ports: list[int]) -> None:
    """Let packets from ``bridge`` reach this machine only on ``tcp_ports`` over IPv4 (and replies), and nothing
    over IPv6 (learners reach the hub over IPv4; a container's link-local IPv6 address would otherwise reach
    whatever listens on this machine's ``::``); idempotent."""
    established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
    rules = [established, *(["-p", "tcp", "--dport", str(port), "-j", "ACCEPT"] for port in tcp_ports), ["-j", "DROP"]]
    _chain("iptables", bridge, chain, rules)
    if (
        shutil.which("ip6tables")
        and subprocess.run(["ip6tables", "-w", "-S", "INPUT"], capture_output=True).returncode == 0
    ):
        _chain("ip6tables", bridge, chain, [established, ["-j", "DROP"]])


def _chain(tool: str, bridge: str, chain: str, rules: list[list[str]]) -> None:
    def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([tool, "-w", *args], capture_output=True, text=True, check=check)

    with _FIREWALL:
        listed = iptables("-S", chain, check=False)
        in_place = listed.returncode == 0 and len(listed.stdout.splitlines()) == 1 + len(rules)
        if not (in_place and all(iptables("-C", chain, *rule, check=False).returncode == 0 for rule in rules)):
            # Missing or different (a first start, another hub port): build it. Only then is there a moment
            # without the DROP, and the rules are added in order, the DROP last.
            iptables("-N", chain, check=False)  # exists already: fine, it is rebuilt below
            iptables("-F", chain)
            for rule in rules:
                iptables("-A", chain, *rule)
        if iptables("-C", "INPUT", "-i", bridge, "-j", chain, check=False).returncode:
            iptables("-I", "INPUT", "-i", bridge, "-j", chain)


def remove_host_firewall(network_id: str) -> None:
    """Undo :func:`host_firewall` for a Docker network that is going away."""
    chain = f"STUDIO-{network_id[:12]}"
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        rules = subprocess.run([tool, "-w", "-S", "INPUT"], capture_output=True, text=True).stdout.splitlines()
        for rule in rules:
            if rule.endswith(f"-j {chain}"):
                subprocess.run([tool, "-w", "-D", *rule.split()[1:]], capture_output=True)
        subprocess.run([tool, "-w", "-F", chain], capture_output=True)
        subprocess.run([tool, "-w", "-X", chain], capture_output=True)

"""A learner's container attacks the network: nothing but the hub API is reachable, and others keep working.

The "outside" host is one this test creates: a listener in its own network namespace on this machine. No test
traffic ever leaves the machine.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import threading
from urllib.parse import urlparse

import pytest

from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.docker

PROBE = r"""
import json, os, socket
def reach(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            return "open"
    except OSError as e:
        return type(e).__name__
def reach6(address, port):
    try:
        info = socket.getaddrinfo(f"{address}%eth0", port, socket.AF_INET6, socket.SOCK_STREAM)[0]
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(info[4])
            return "open"
    except (OSError, IndexError) as e:
        return type(e).__name__
def resolve(name):
    try:
        return socket.getaddrinfo(name, 80)[0][4][0]
    except OSError as e:
        return type(e).__name__
print(json.dumps({
    "hub_api": reach(HUB_HOST, HUB_PORT),
    "outside_host": reach(OUTSIDE, 8080),
    "host_service": reach(HUB_HOST, HOST_PORT),
    "host_ssh": reach(HUB_HOST, 22),
    "other_learner": reach(OTHER, 8888),
    "postgres": reach(HUB_HOST, 5432),
    "redis": reach(HUB_HOST, 6379),
    "dns": resolve("example.org"),
    "host_service_ipv6": reach6(GATEWAY6, HOST_PORT6),
    "docker_socket": os.path.exists("/var/run/docker.sock"),
}))
"""


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def outside_host():
    """An HTTP listener on 10.231.<n>.2:8080 inside a network namespace of its own, reachable from the host."""
    tag = secrets.token_hex(2)
    ns, host_if, ns_if, net = f"studio-out-{tag}", f"sto{tag}a", f"sto{tag}b", f"10.231.{int(tag, 16) % 250}"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
    sh("ip", "link", "set", ns_if, "netns", ns)
    sh("ip", "addr", "add", f"{net}.1/30", "dev", host_if)
    sh("ip", "link", "set", host_if, "up")
    sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.2/30", "dev", ns_if)
    sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
    sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns, "python3", "-m", "http.server", "8080", "--bind", f"{net}.2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):  # the host itself can reach it: proof the listener is up
            try:
                socket.create_connection((f"{net}.2", 8080), timeout=0.2).close()
                break
            except OSError:
                threading.Event().wait(0.1)
        else:
            pytest.fail("the outside listener did not come up")
        yield f"{net}.2"
    finally:
        server.kill()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def host_service():
    """A service on this machine listening on every address (as a careless PostgreSQL or Redis would)."""
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"secret data\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


@pytest.fixture(scope="module")
def host_service6():
    """The same over IPv6 (and IPv4), on every address: reachable from a learners' bridge by its link-local IPv6
    address unless the firewall covers IPv6 too."""
    server = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    threading.Thread(target=lambda: [c.close() for c in iter(lambda: server.accept()[0], None)], daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def bridge_link_local(network: str) -> str:
    """The IPv6 link-local address of the learners' bridge on this machine ("" when IPv6 is off there)."""
    net = json.loads(
        subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True, check=True).stdout
    )[0]
    bridge = net.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}"
    out = subprocess.run(
        ["ip", "-6", "-o", "addr", "show", "dev", bridge, "scope", "link"], capture_output=True, text=True
    ).stdout.split()
    return next((w.split("/")[0] for w in out if w.startswith("fe80:")), "")


def test_learner_reaches_the_hub_api_and_nothing_else(docker_stack, outside_host, host_service, host_service6):
    v1, v2 = Visitor(docker_stack), Visitor(docker_stack)
    v1.login("student1")
    v2.login("student2")
    assert v1.open_lesson("intro-python", "values-and-names").status_code == 200
    assert v2.open_lesson("intro-python", "functions").status_code == 200
    other = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{docker_stack.container_prefix}-student2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    other_ip = other["NetworkSettings"]["Networks"][docker_stack.network]["IPAddress"]
    hub = urlparse(docker_stack.env()["STUDIO_HUB_CONNECT_URL"])
    values = {
        "HUB_HOST": hub.hostname,
        "HUB_PORT": hub.port,
        "OUTSIDE": outside_host,
        "HOST_PORT": host_service,
        "OTHER": other_ip,
        "GATEWAY6": bridge_link_local(docker_stack.network) or "fe80::1",
        "HOST_PORT6": host_service6,
    }
    code = "".join(f"{k} = {v!r}\n" for k, v in values.items()) + PROBE
    out = run_in_kernel(v1, docker_stack.user_url("student1"), code)
    assert out["status"] == "ok", out
    result = json.loads(out["stdout"])
    assert result["hub_api"] == "open"  # the one thing it needs (and proof the probe can connect at all)
    blocked = {"outside_host", "host_service", "host_ssh", "other_learner", "postgres", "redis", "host_service_ipv6"}
    assert {k: result[k] for k in blocked if result[k] == "open"} == {}, result
    assert result["dns"] != "open" and "." not in result["dns"], result  # no name resolves to an address
    # Docker gives containers on a network without IPv6 no IPv6 address (the probe above cannot even try), but a
    # network with it would: the host's IPv6 firewall is in place for the learners' bridge all the same.
    net = json.loads(
        subprocess.run(
            ["docker", "network", "inspect", docker_stack.network], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    bridge = net.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}"
    chain = f"STUDIO-{net['Id'][:12]}"
    assert subprocess.run(["ip6tables", "-w", "-C", "INPUT", "-i", bridge, "-j", chain]).returncode == 0
    rules = subprocess.run(["ip6tables", "-w", "-S", chain], capture_output=True, text=True).stdout.splitlines()
    assert rules[-1] == f"-A {chain} -j DROP" and not [r for r in rules if "--dport" in r], rules
    assert result["docker_socket"] is False
    # Over IPv4, exactly four ports of this machine are open to learners, each needed (docs/security.md, "Tokens and
    # network"): the hub API, and the exchange, grading and hints services, each refusing a call without a token.
    rules4 = subprocess.run(["iptables", "-w", "-S", chain], capture_output=True, text=True).stdout.splitlines()
    opened = {int(r.split("--dport ")[1].split()[0]) for r in rules4 if "--dport" in r}
    env = docker_stack.env()
    services = {int(env[f"STUDIO_{name}_PORT"]): name.lower() for name in ("EXCHANGE", "GRADING", "HINTS")}
    assert opened == {hub.port, *services} and rules4[-1] == f"-A {chain} -j DROP", rules4
    anonymous = run_in_kernel(
        v1,
        docker_stack.user_url("student1"),
        (
            "import http.client\n"
            f"for port, name in {services!r}.items():\n"
            "    for path in ('', 'api/assignments', 'api/submissions', 'api/hint'):\n"
            f"        c = http.client.HTTPConnection({hub.hostname!r}, port, timeout=10)\n"
            "        c.request('GET', f'/services/{name}/{path}')\n"
            "        print(port, c.getresponse().status)\n"
        ),
    )
    assert anonymous["status"] == "ok", anonymous
    answers = [line.split() for line in anonymous["stdout"].splitlines() if line.strip()]
    assert {port for port, _ in answers} == {str(p) for p in services}, answers
    assert not [a for a in answers if a[1].startswith("2")], answers  # refused or sent to log in, never served

    # The hub and the second learner are unaffected.
    again = run_in_kernel(v2, docker_stack.user_url("student2"), "print(6 * 7)")
    assert again["stdout"].strip() == "42"

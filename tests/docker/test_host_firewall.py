"""The host firewall a learner's bridge gets (studio_hub.docker.host_firewall), with the real iptables that Docker's
install brings (the docker_engine fixture installs it: collected with the docker tests, it runs in every CI run)."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.docker


def test_concurrent_firewall_rebuilds_keep_the_hub_api_open(docker_engine):
    """Ten learners starting at once each make sure of the firewall: the DROP must stay behind the hub's ACCEPT."""
    from concurrent.futures import ThreadPoolExecutor

    from studio_hub.docker import host_firewall

    chain, bridge = f"STUDIO-T{os.getpid()}", f"br-t{os.getpid()}"[:15]
    try:
        for _ in range(3):
            with ThreadPoolExecutor(10) as pool:
                list(pool.map(lambda _: host_firewall(bridge, chain, [8081]), range(10)))
            rules = subprocess.run(["iptables", "-S", chain], capture_output=True, text=True).stdout.splitlines()[1:]
            assert len(rules) == 3 and "ESTABLISHED" in rules[0] and "--dport 8081" in rules[1], rules
            assert rules[2].endswith("-j DROP")
        jumps = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout
        assert jumps.count(f"-j {chain}") == 1
        host_firewall(bridge, chain, [8082])  # another hub port: rebuilt
        assert "--dport 8082" in subprocess.run(["iptables", "-S", chain], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["iptables", "-w", "-D", "INPUT", "-i", bridge, "-j", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)

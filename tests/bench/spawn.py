"""Spawn latency and idle memory of learners' containers: runc, runsc, and runsc from the warm pool, in one run.

    sudo .venv/bin/python -m tests.bench.spawn [--sequential 10] [--concurrent 10]

Through the real hub: REST request (POST /hub/api/users/<name>/server) → the server reports ready, with the
hardened settings of SandboxedDockerSpawner on a warm image. "pool" is runsc with a warm pool as large as the
concurrent batch; each measured spawn starts once the pool is full again (a learner arriving at a steady hub),
and how long refilling takes is printed as its cost. Prints one `name: value unit` line per figure and a RESULT
line (the pool's runsc p95 for one learner, against plain runsc and runc).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from tests.docker.conftest import (  # noqa: E402
    build_learner_image,
    docker_learners_stack,
    ensure_docker,
    waiting_containers,
)
from tests.integration.client import Visitor  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Learner:
    def __init__(self, stack, name: str, password: str):
        self.stack, self.name = stack, name
        self.v = Visitor(stack)
        self.v.login(name, password)
        self.v.follow(f"{stack.hub_url}/hub/home")
        self.api = f"{stack.hub_url}/hub/api/users/{name}"
        self.headers = {"X-XSRFToken": self.v.http.cookies.get("_xsrf", path="/hub/")}

    def spawn(self) -> float:
        """REST request → ready, read from the hub's progress event stream (what the spawn page in a browser
        listens to): polling the REST API instead, ten learners at 20 Hz kept the single-threaded hub busy
        enough to starve ten starting sandboxes."""
        t0 = time.monotonic()
        resp = self.v.http.post(f"{self.api}/server", headers=self.headers)
        assert resp.status_code in (201, 202), resp.text
        if resp.status_code == 202:
            with self.v.http.get(
                f"{self.api}/server/progress", headers=self.headers, stream=True, timeout=180
            ) as events:
                for line in events.iter_lines(decode_unicode=True):
                    if line and line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("ready"):
                            break
                        if event.get("failed"):
                            raise RuntimeError(f"{self.name}'s server failed: {event.get('message')}")
                else:
                    raise RuntimeError(f"{self.name}'s progress stream ended before the server was ready")
        return time.monotonic() - t0

    def stop(self) -> None:
        container = f"{self.stack.container_prefix}-{self.name}"
        cid = subprocess.run(
            ["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True
        ).stdout.strip()
        self.v.http.delete(f"{self.api}/server", headers=self.headers)
        while self.v.http.get(self.api, headers=self.headers).json()["servers"]:
            time.sleep(0.1)
        # The hub is done in ~0.5 s, but a gVisor sandbox spends 1-3 s of CPU more exiting: wait for it, so that the
        # next sequential spawn measures a spawn, not the previous learner's teardown (a new learner arriving).
        deadline = time.monotonic() + 15
        while (
            cid
            and time.monotonic() < deadline
            and subprocess.run(["pgrep", "-f", cid[:12]], capture_output=True).returncode == 0
        ):
            time.sleep(0.1)


def container_memory_mib(name: str) -> float:
    cid = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True).stdout.strip()
    for path in (
        f"/sys/fs/cgroup/memory/docker/{cid}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.current",
    ):
        if Path(path).exists():
            return int(Path(path).read_text()) / 2**20
    return float("nan")


def wait_for_pool(stack, count: int, timeout: float = 600) -> float:
    """Wait until ``count`` pooled containers wait for learners; return how long that took."""
    t0 = time.monotonic()
    while len(waiting_containers(stack)) < count:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the pool did not reach {count} within {timeout} s")
        time.sleep(0.2)
    time.sleep(0.5)  # the hub checks the port every 50 ms before it counts a container as ready
    return time.monotonic() - t0


def bench(runtime: str, image: str, sequential: int, concurrent: int, pool: int = 0) -> dict[str, float]:
    users = [f"bench{i}" for i in range(max(concurrent, 1))]
    env = {"STUDIO_CULL_TIMEOUT": "0", "STUDIO_WARM_POOL": str(pool)}
    with docker_learners_stack(image, runtime=runtime, **env) as stack:
        create = "; ".join(f"User.objects.create_user('{u}', password='bench-pw-{u}')" for u in users)
        stack.manage("shell", "-c", f"from django.contrib.auth.models import User; {create}")
        learners = [Learner(stack, u, f"bench-pw-{u}") for u in users]
        one = learners[0]
        seq, refill = [], []
        for _ in range(sequential):
            if pool:
                refill.append(wait_for_pool(stack, pool))
            seq.append(one.spawn())
            one.stop()
        waiting = float("nan")
        if pool:
            refill.append(wait_for_pool(stack, pool))
            time.sleep(10)
            waiting = statistics.median(container_memory_mib(c) for c in waiting_containers(stack))
        one.spawn()
        time.sleep(10)  # let the idle server settle
        memory = container_memory_mib(f"{stack.container_prefix}-{one.name}")
        one.stop()
        if pool:
            wait_for_pool(stack, pool)
        with ThreadPoolExecutor(len(learners)) as workers:
            conc = list(workers.map(lambda learner: learner.spawn(), learners))
        with ThreadPoolExecutor(len(learners)) as workers:
            list(workers.map(lambda learner: learner.stop(), learners))
    return {
        "seq_p50": statistics.median(seq),
        "seq_p95": pct(seq, 95),
        "first": seq[0],
        "conc_p50": statistics.median(conc),
        "conc_p95": pct(conc, 95),
        "idle_mib": memory,
        "waiting_mib": waiting,
        "refill_p50": statistics.median(refill[1:]) if len(refill) > 1 else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()
    ensure_docker()
    image = build_learner_image()
    pool = max(args.concurrent, 1)
    results = {
        "runc": bench("runc", image, args.sequential, args.concurrent),
        "runsc": bench("runsc", image, args.sequential, args.concurrent),
        "pool": bench("runsc", image, args.sequential, args.concurrent, pool=pool),
    }
    for way, r in results.items():
        print(f"spawn_{way}_first: {r['first']:.2f} s")
        print(f"spawn_{way}_sequential{args.sequential}_p50: {r['seq_p50']:.2f} s")
        print(f"spawn_{way}_sequential{args.sequential}_p95: {r['seq_p95']:.2f} s")
        print(f"spawn_{way}_concurrent{args.concurrent}_p50: {r['conc_p50']:.2f} s")
        print(f"spawn_{way}_concurrent{args.concurrent}_p95: {r['conc_p95']:.2f} s")
        print(f"idle_memory_{way}: {r['idle_mib']:.0f} MiB")
    print(f"pool_size: {pool} containers")
    print(f"pool_waiting_memory: {results['pool']['waiting_mib']:.0f} MiB per container")
    print(f"pool_refill_after_claim_p50: {results['pool']['refill_p50']:.2f} s")
    p95 = {way: r["seq_p95"] for way, r in results.items()}
    print(
        f"RESULT: runsc from the warm pool sequential p95 {p95['pool']:.2f} s (plain runsc {p95['runsc']:.2f} s, "
        f"runc {p95['runc']:.2f} s), idle {results['pool']['idle_mib']:.0f} MiB per learner"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

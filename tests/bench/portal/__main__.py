"""The portal under load, at two data sizes side by side in one run.

    python -m tests.bench.portal [--clients 50] [--seconds 10] [--workers 4]

For data scale 1 and scale 10 (tests/bench/portal/data.py: 100 and 1000 students with their learning events and
grades, 40 and 400 forum threads, a busy thread of 120 and 1200 posts), the portal runs as in production: gunicorn,
production settings, PostgreSQL, Redis (cache, sessions, rate limits). 50 clients on loopback, each logged in as the
course's instructor, request one page for the given time, each pausing about a second between requests as a person
reading does (--think): the catalog, the busy forum thread, the instructor's course dashboard. Each page's p50/p95
latency and the requests served are printed per scale; then the same clients without pauses give the throughput
at saturation (where latency is only queueing: 50 clients / throughput).
Target: p95 <= 50 ms, and flat in data size (the RESULT line gives the worst p95 at 10x and its ratio to 1x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests import services
from tests.conftest import COURSE_CONTENT, ROOT

REDIS_DB = 13


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare(scale: int, env: dict, data: Path) -> int:
    """Migrate, import the course, seed the demo accounts, fill in data; returns the busy thread's id."""
    secret = data / "hub-secret"
    secret.write_text("bench-secret\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "studio_setup",
            "--content",
            str(COURSE_CONTENT),
            "--hub-secret-file",
            str(secret),
            "--hub-callback",
            "http://127.0.0.1:8000/hub/oauth_callback",
            "--demo-passwords",
            str(data / "passwords.txt"),
            "--collectstatic",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.portal.data", str(scale)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"# {out}", flush=True)
    return int(re.search(r"busy thread (\d+)", out).group(1))


async def log_in(base: str, username: str, password: str) -> aiohttp.CookieJar:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(f"{base}/accounts/login/") as r:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', await r.text()).group(1)
        data = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        async with s.post(f"{base}/accounts/login/", data=data, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
    return jar


async def load(url: str, jar: aiohttp.CookieJar, clients: int, seconds: float, think: float) -> tuple[list[float], int]:
    """``clients`` concurrent clients for ``seconds``; each waits ``think`` seconds on average (exponentially
    distributed, as people reading a page do) between its requests; 0: as fast as it can (saturation)."""
    latencies: list[float] = []
    rng = random.Random(1)
    errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as s:
        for _ in range(10):  # warm-up: each worker's first request loads templates and opens connections
            async with s.get(url) as r:
                await r.read()
        deadline = time.monotonic() + seconds

        async def client():
            nonlocal errors
            if think:  # people arrive over time, not all in the same millisecond
                await asyncio.sleep(rng.uniform(0, think))
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                async with s.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append((time.perf_counter() - t0) * 1000)
                if think:
                    await asyncio.sleep(rng.expovariate(1 / think))

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


def run_scale(scale: int, args, redis_url: str) -> dict[str, tuple[float, float, float]]:
    from embedded import free_port, wait_for_http  # scripts/, on the path once tests.conftest is imported

    database_url, name = services.create_database()
    data = Path(tempfile.mkdtemp(prefix=f"studio-bench-portal-{scale}-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STUDIO_PORTAL_DATA_DIR": str(data),
        "STUDIO_REDIS_URL": f"{redis_url}/{REDIS_DB}",
        "DJANGO_SETTINGS_MODULE": "studio_portal.settings.production",
        "STUDIO_PORTAL_SECRET_KEY": "b" * 50,
        "STUDIO_LOGIN_RATE": "1000/m",
    }
    import redis

    redis.Redis.from_url(f"{redis_url}/{REDIS_DB}").flushdb()
    proc = None
    try:
        busy = prepare(scale, env, data)
        port = free_port()
        log = data / "gunicorn.log"
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "studio_portal.wsgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=open(log, "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", proc, log)
        passwords = dict(line.split(":", 1) for line in (data / "passwords.txt").read_text().splitlines())
        jar = asyncio.run(log_in(base, "instructor1", passwords["instructor1"]))
        pages = {
            "catalog": "/",
            "forum thread": f"/courses/intro-python/forum/{busy}/",
            "instructor dashboard": "/courses/intro-python/analytics/",
        }
        out = {}
        for page, path in pages.items():
            latencies, errors = asyncio.run(load(base + path, jar, args.clients, args.seconds, args.think))
            assert errors == 0, f"{page}: {errors} answers were not 200"
            out[page] = (pct(latencies, 0.5), pct(latencies, 0.95), len(latencies) / args.seconds)
            p50, p95, rps = out[page]
            print(f"{page} p50 ({scale}x): {p50:.1f} ms")
            print(f"{page} p95 ({scale}x): {p95:.1f} ms")
            print(f"{page} served ({scale}x): {rps:.0f} req/s", flush=True)
            saturated, errors = asyncio.run(load(base + path, jar, args.clients, args.seconds / 2, 0))
            assert errors == 0, f"{page}: {errors} answers were not 200"
            print(
                f"{page} throughput at saturation ({scale}x): {len(saturated) / (args.seconds / 2):.0f} req/s",
                flush=True,
            )
        return out
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        services.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a client's requests, on average")
    args = parser.parse_args()
    redis_url = services.ensure_redis()
    print(
        f"# {args.clients} clients, each reading a page for {args.think:g} s on average between requests, "
        f"{args.seconds:.0f} s per page; then as fast as they can, for throughput; gunicorn with {args.workers} "
        f"workers; {os.cpu_count()} cores",
        flush=True,
    )
    small, large = run_scale(1, args, redis_url), run_scale(10, args, redis_url)
    worst = max(large, key=lambda page: large[page][1])
    ratio = max(large[p][1] / small[p][1] for p in large)
    print(f"RESULT: worst p95 at 10x data {large[worst][1]:.1f} ms ({worst}); largest p95 ratio 10x/1x {ratio:.2f}")


if __name__ == "__main__":
    main()

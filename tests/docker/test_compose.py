"""docker-compose on this machine: proxy, hub (learners under runsc), portal, PostgreSQL and Redis, for real.

Brought up from the repository's own docker-compose.yml with an .env of fresh secrets, logged into through the
portal, an assignment released, submitted and graded with nbgrader in learners' containers, torn down; nothing of
it may be left behind (containers, runsc sandboxes, grading sandboxes, networks, volumes, rules).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import requests

from tests.conftest import COURSE_CONTENT, ROOT
from tests.docker.conftest import build_images, remove_learner_resources
from tests.grading_cases import ASSIGNMENT, make_course, submission
from tests.integration.client import Visitor, learner_in_lesson

pytestmark = pytest.mark.docker

SECRETS = [
    "POSTGRES_PASSWORD",
    "STUDIO_HUB_DB_PASSWORD",
    "STUDIO_PORTAL_DB_PASSWORD",
    "REDIS_PASSWORD",
    "STUDIO_PORTAL_SECRET_KEY",
    "STUDIO_HUB_OAUTH_CLIENT_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "CONFIGPROXY_AUTH_TOKEN",
    "STUDIO_GRADES_TOKEN",
    "STUDIO_EVENTS_TOKEN",
]
GRADING_LABEL = "label=org.learning-studio.grading=1"
SERVICES = ["postgres", "redis", "portal", "proxy", "hub"]


def compose_command() -> list[str]:
    """Debian's docker-compose (installed here if neither it nor the compose plugin is present)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if not shutil.which("docker-compose"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker-compose"], check=True, capture_output=True, env=env)
    return ["docker-compose"]


def write_env(path: Path, prefix: str) -> dict[str, str]:
    """The operator's .env: .env.example with every secret replaced and free ports for this run."""
    from embedded import free_port

    names = [
        "STUDIO_HTTP_PORT",
        "STUDIO_PORTAL_PORT",
        "STUDIO_PROXY_API_PORT",
        "STUDIO_POSTGRES_PORT",
        "STUDIO_HUB_API_PORT",
        "STUDIO_REDIS_PORT",
    ]
    ports = {name: str(free_port()) for name in names}
    values = {
        **{name: secrets.token_hex(32) for name in SECRETS},
        **ports,
        "STUDIO_HUB_URL": f"http://localhost:{ports['STUDIO_HTTP_PORT']}",
        "STUDIO_PORTAL_URL": f"http://127.0.0.1:{ports['STUDIO_PORTAL_PORT']}",
        "STUDIO_DOCKER_NETWORK": prefix,
        "STUDIO_DOCKER_PREFIX": prefix,
    }
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values[name]}" if name in values and not line.startswith("#") else line)
    unset = [line for line in lines if line.endswith("=change-me")]
    assert not unset, f"secrets in .env.example this test does not set: {unset}"
    path.write_text("\n".join(lines) + "\n")
    return values


def wait_healthy(compose, service: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        cid = compose("ps", "-q", service).stdout.strip()
        if cid:
            status = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", cid], capture_output=True, text=True
            ).stdout.strip()
            if status == "healthy":
                return
        time.sleep(1)
    raise AssertionError(f"{service} not healthy within {timeout} s (last status {status!r})")


def leftovers(project: str, prefix: str) -> dict[str, list[str]]:
    def lines(*cmd: str) -> list[str]:
        return [x for x in subprocess.run(cmd, capture_output=True, text=True).stdout.split() if x]

    ids = lines("docker", "ps", "-aq", "--filter", f"name={project}") + lines(
        "docker", "ps", "-aq", "--filter", f"name={prefix}-"
    )
    runsc = [p for p in lines("pgrep", "-f", "runsc") if any(i[:12] in _cmdline(p) for i in ids)]
    return {
        "containers": ids,
        "runsc processes": runsc,
        "networks": lines("docker", "network", "ls", "-q", "--filter", f"name={prefix}")
        + lines("docker", "network", "ls", "-q", "--filter", f"name={project}"),
        "volumes": lines("docker", "volume", "ls", "-q", "--filter", f"name={project}")
        + lines("docker", "volume", "ls", "-q", "--filter", f"name={prefix}-home-"),
    }


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@contextmanager
def compose_up():
    """``docker-compose up -d`` from the repository's file with a fresh .env; ``down -v`` and clean-up after."""
    build_images(*SERVICES[:3], "hub", "learner")
    project = f"studiotest{secrets.token_hex(3)}"
    prefix = f"studio-test-{project[-6:]}"
    env_dir = Path(tempfile.mkdtemp(prefix="studio-compose-"))
    values = write_env(env_dir / ".env", prefix)
    base = [
        *compose_command(),
        "-p",
        project,
        "-f",
        str(ROOT / "docker-compose.yml"),
        "--env-file",
        str(env_dir / ".env"),
    ]

    def compose(*args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, check=check, cwd=ROOT)

    s = SimpleNamespace(
        compose=compose,
        project=project,
        prefix=prefix,
        values=values,
        hub_url=values["STUDIO_HUB_URL"],
        portal_url=values["STUDIO_PORTAL_URL"],
    )
    t0 = time.monotonic()
    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        wait_healthy(compose, "hub", 300)
        print(f"\ndocker-compose up → hub healthy: {time.monotonic() - t0:.1f} s")
        seed = compose(
            "exec",
            "-T",
            "portal",
            "python3",
            "-m",
            "django",
            "seed_demo",
            "--passwords-file",
            "/srv/portal/data/demo-passwords.txt",
        )
        assert seed.returncode == 0, seed.stderr
        text = compose("exec", "-T", "portal", "cat", "/srv/portal/data/demo-passwords.txt", check=True).stdout
        s.passwords = dict(line.split(":", 1) for line in text.split())
        yield s
    except BaseException:
        print(compose("ps").stdout, compose("logs", "--tail", "60").stdout)
        for cid in subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"name={prefix}-"], capture_output=True, text=True
        ).stdout.split():
            print(subprocess.run(["docker", "logs", "--tail", "40", cid], capture_output=True, text=True).stderr)
        raise
    finally:
        t1 = time.monotonic()
        s.down = compose("down", "-v", "--remove-orphans", "-t", "30")
        s.down_seconds = time.monotonic() - t1
        s.left_by_down = leftovers(project, prefix)
        remove_learner_resources(prefix, prefix)  # the learners' network is named like their containers
        shutil.rmtree(env_dir, ignore_errors=True)


def test_compose_serves_a_learner_under_gvisor_grades_and_tears_down_clean(docker_engine, tmp_path):
    right = submission(make_course(tmp_path / "course", image="studio-learner:latest"), "right")
    with compose_up() as s:
        student = check_running_stack(s)
        check_grading(s, student, nbformat.writes(right).encode())
        check_hints(s)
    assert s.down.returncode == 0, s.down.stderr
    # The grading service's sandboxes go with the hub.
    assert not set(s.sandboxes) & set(docker_ids("ps", "-aq", "--filter", GRADING_LABEL)), s.sandboxes
    print(f"docker-compose down: {s.down_seconds:.1f} s")
    # The hub stops learners' servers as it shuts down: no container or gVisor sandbox outlives the stack. (Home
    # volumes and the learners' network are the hub's, kept across restarts on purpose; the clean-up removes them.)
    assert s.left_by_down["containers"] == [] and s.left_by_down["runsc processes"] == [], s.left_by_down
    after = leftovers(s.project, s.prefix)
    assert after == {"containers": [], "runsc processes": [], "networks": [], "volumes": []}, after


def sandboxes_of(s) -> list[str]:
    """The grading sandboxes of this stack's hub (named after its learners' prefix; other stacks may run some)."""
    return docker_ids("ps", "-q", "--filter", GRADING_LABEL, "--filter", f"name={s.prefix}-grade-")


def docker_ids(*args: str) -> list[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True).stdout.split()


def check_running_stack(s) -> Visitor:
    # Every service healthy, and the portal's health endpoint reports PostgreSQL and Redis in use.
    for service in SERVICES:
        wait_healthy(s.compose, service, 30)
    health = requests.get(f"{s.portal_url}/healthz", timeout=10)
    assert health.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'])"
    )
    portal_env = s.compose("exec", "-T", "portal", "python3", "-c", code).stdout
    assert "postgresql" in portal_env and "RedisCache" in portal_env

    # A student logs in at the portal, opens a lesson, and gets a server in a gVisor container.
    v = Visitor(s)
    assert v.login("student1").status_code in (200, 302)
    t0 = time.monotonic()
    resp = v.open_lesson("intro-python", "values-and-names")
    print(f"login → lesson open in JupyterLab (spawn included): {time.monotonic() - t0:.1f} s")
    assert resp.status_code == 200 and resp.url.endswith("/lab/tree/intro-python/lessons/01-values-and-names.ipynb")
    inspect = json.loads(
        subprocess.run(["docker", "inspect", f"{s.prefix}-student1"], capture_output=True, text=True, check=True).stdout
    )[0]
    assert inspect["HostConfig"]["Runtime"] == "runsc" and inspect["Config"]["User"] == "1000"
    assert inspect["Config"]["Image"] == "studio-learner:latest"
    # The home is bounded: a volume on the loop device of an ext4 image the hub made, not a plain directory.
    home = json.loads(
        subprocess.run(
            ["docker", "volume", "inspect", f"{s.prefix}-home-student1"], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert home["Options"]["type"] == "ext4" and home["Options"]["device"].startswith("/dev/loop"), home
    # The hub's state is in PostgreSQL, not in a SQLite file.
    users = s.compose(
        "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "hub", "-tAc", "select name from users order by name"
    ).stdout.split()
    assert "student1" in users

    # The first admin, as the README creates it, is a hub admin after logging in through the portal.
    admin = s.compose(
        "exec",
        "-T",
        "-e",
        "DJANGO_SUPERUSER_PASSWORD=first-admin-pw",
        "portal",
        "python3",
        "-m",
        "django",
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.org",
    )
    assert admin.returncode == 0, admin.stderr
    a = Visitor(s)
    a.login("admin", "first-admin-pw")
    assert a.follow(f"{s.hub_url}/hub/admin").status_code == 200
    assert v.follow(f"{s.hub_url}/hub/admin").status_code == 403  # a student is not
    return v


def in_container(s, username: str, script: str, stdin: bytes | None = None) -> str:
    """``bash -c script`` in ``username``'s own container, as them, in their home (as their terminal would)."""
    done = subprocess.run(
        ["docker", "exec", "-i", "-u", "1000", "-w", "/home/learner", f"{s.prefix}-{username}", "bash", "-c", script],
        input=stdin or b"",
        capture_output=True,
        timeout=300,
    )
    out = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, f"{username}: {script}\n{out}"
    return out


def source_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(COURSE_CONTENT / "intro-python" / "source" / ASSIGNMENT, arcname=ASSIGNMENT)
    return buf.getvalue()


def check_grading(s, student: Visitor, right: bytes) -> None:
    """The instructor releases ps01 with nbgrader in their container (from a course folder, as they would clone
    it); the student fetches it, answers and submits with nbgrader in theirs; the hub's grading service grades it
    in a gVisor sandbox (its gradebook a schema of the hub's PostgreSQL) and the student reads 5 / 7 at the
    portal."""
    learner_in_lesson(s, "instructor1", "intro-python", "values-and-names")
    config = "c = get_config()\nc.CourseDirectory.course_id = 'intro-python'\n"
    in_container(
        s,
        "instructor1",
        f'mkdir -p course/source && tar -x -C course/source && printf "{config}" >course/nbgrader_config.py',
        stdin=source_tar(),
    )
    out = in_container(
        s,
        "instructor1",
        f"cd course && nbgrader generate_assignment {ASSIGNMENT} && nbgrader release_assignment {ASSIGNMENT} --force",
    )
    assert f"Released intro-python/{ASSIGNMENT}" in out, out
    in_container(s, "student1", f"nbgrader fetch_assignment {ASSIGNMENT} --course intro-python")
    in_container(s, "student1", f"cat >{ASSIGNMENT}/{ASSIGNMENT}.ipynb", stdin=right)
    t0 = time.monotonic()
    out = in_container(s, "student1", f"nbgrader submit {ASSIGNMENT} --course intro-python")
    assert "Submitted as:" in out, out
    deadline = time.monotonic() + 300
    while "5 / 7" not in (page := student.http.get(f"{s.portal_url}/courses/intro-python/grades/").text):
        s.sandboxes = sorted({*getattr(s, "sandboxes", []), *sandboxes_of(s)})
        assert time.monotonic() < deadline, page[-2000:]
        time.sleep(2)
    print(f"nbgrader submit → grade at the portal: {time.monotonic() - t0:.1f} s")
    s.sandboxes = sorted({*getattr(s, "sandboxes", []), *sandboxes_of(s)})
    assert s.sandboxes, "graded in a sandbox of the grading service"
    for cid in s.sandboxes:
        info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True).stdout or "[{}]")
        if info[0]:  # (a sandbox may have ended since)
            assert info[0]["HostConfig"]["Runtime"] == "runsc" and info[0]["HostConfig"]["NetworkMode"] == "none"
    # The gradebook: a schema of the hub's database, with the student's submission in it.
    query = (
        "select count(*) from information_schema.tables where table_schema like 'grading_intro_python_%' "
        "and table_name = 'submitted_notebook'"
    )
    tables = s.compose("exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "hub", "-tAc", query).stdout
    assert tables.strip() == "1", tables


def check_hints(s) -> None:
    """From the student's container, with their server's token, as the hints extension asks: a tutor hint about
    their code; the hint log and the event stream are in Redis."""
    ask = (
        "import json, os, urllib.request\n"
        "body = {'assignment': 'ps01-values-and-names', 'exercise': 'ex1-answer',\n"
        "        'code': 'def celsius_to_fahrenheit(c):\\n    print(c * 9 / 5 + 32)\\n'}\n"
        "req = urllib.request.Request(os.environ['STUDIO_HINTS_URL'] + 'api/hint', data=json.dumps(body).encode(),\n"
        "    headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']})\n"
        "print(urllib.request.urlopen(req, timeout=30).read().decode())\n"
    )
    answer = json.loads(in_container(s, "student1", "python3 -", stdin=ask.encode()))
    assert answer["provider"] == "tutor" and "prints its result" in answer["hint"], answer
    redis = ["exec", "-T", "redis", "redis-cli", "--no-auth-warning", "-a", s.values["REDIS_PASSWORD"], "-n", "2"]
    assert int(s.compose(*redis, "XLEN", "studio:events").stdout.strip() or 0) >= 1
    assert int(s.compose(*redis, "LLEN", "studio:hints:log:intro-python").stdout.strip() or 0) == 1

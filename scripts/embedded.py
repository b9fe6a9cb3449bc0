"""The embedded default: prepare and run the portal and JupyterHub on 127.0.0.1 (SQLite, no Docker, no Redis).

    python scripts/embedded.py demo      what `make demo` runs: set up, start, print URLs, stop on Ctrl-C

The integration tests drive the same :class:`Stack` with their own folders and free ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# The virtualenv's bin (jupyterhub, gunicorn, configurable-http-proxy) by its real path: .venv may be a symlink
# from a checkout that learner accounts cannot enter.
BIN = Path(sys.executable).parent.resolve()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now and never handed out before by this process: the kernel may give the same free
    port to two ``bind(0)`` calls in a row, and a stack whose hub and proxy got the same one does not start."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    from studio_wire import http

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} did not start (exit {proc.returncode}); its log {log} ends:\n{tail(log)}")
        try:
            with http.client(2) as client:
                if client.get(url).status_code < 500:
                    return
        except http.Error:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; its log {log} ends:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Stack:
    """One portal and one hub, their folders and ports."""

    var: Path
    courses: list[Path]
    hub_port: int = 8000
    portal_port: int = 8001
    hub_api_port: int = 8081
    proxy_api_port: int = 8082
    exchange_port: int = 8083
    grading_port: int = 8084
    hints_port: int = 8085
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_in: float = 0.0  # seconds the last up() took
    publish: bool = False  # the grading service releases the courses' assignments at start (the demo's)

    def __post_init__(self):
        self.var = self.var.resolve()  # learners read var/content: never through a symlink in the checkout

    @property
    def hub_url(self) -> str:
        return f"http://localhost:{self.hub_port}"

    def user_url(self, name: str) -> str:
        """A learner's server, on an origin of its own (JupyterHub's subdomain_host, studio_hub.origins' labels)."""
        from studio_hub.origins import subdomain_hook

        return f"http://{subdomain_hook(name, 'localhost', 'user')}:{self.hub_port}/user/{quote(name)}/"

    def service_origin(self, name: str) -> str:
        """A hub service's own origin (its pages: formgrader for grading)."""
        from studio_hub.origins import subdomain_hook

        return f"http://{subdomain_hook(name, 'localhost', 'service')}:{self.hub_port}"

    def service_url(self, name: str) -> str:
        return f"{self.service_origin(name)}/services/{name}/"

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    @property
    def passwords_file(self) -> Path:
        return self.var / "demo-passwords.txt"

    @property
    def passwords(self) -> dict[str, str]:
        """Demo account → password."""
        return dict(line.split(":", 1) for line in self.passwords_file.read_text().split())

    @property
    def learner_prefix(self) -> str:
        return self.extra_env.get("STUDIO_LEARNER_USER_PREFIX", "ls-")

    @property
    def hub_dir(self) -> Path:
        return self.var / "hub"

    @property
    def grading_dir(self) -> Path:
        """The grading service's course folders (beside the hub's own folder: Settings.grading_dir)."""
        return self.var / "grading"

    @property
    def source_dir(self) -> Path:
        """The courses with their source/ (solutions, hidden tests), for the grading and hints services: in the hub's
        private folder, which learners' servers see as empty."""
        return self.hub_dir / "courses"

    @property
    def log_dir(self) -> Path:
        return self.var / "log"

    def hub_settings(self):
        """The hub's settings for this stack: what it gets in its environment is derived from them (Settings is the
        one place that names the hub's variables)."""
        from studio_hub.settings import Settings

        return Settings(
            data_dir=self.hub_dir,
            content_dir=self.var / "content",
            grading_dir=self.grading_dir,
            source_dir=self.source_dir,
            grading_publish=self.publish,
            public_url=self.hub_url,
            hub_bind_url=f"http://127.0.0.1:{self.hub_api_port}",
            proxy_api_url=f"http://127.0.0.1:{self.proxy_api_port}",
            portal_url=self.portal_url,
            exchange_port=self.exchange_port,
            grading_port=self.grading_port,
            hints_port=self.hints_port,
            # Learners' servers see var/ as empty but for their home and the course content.
            private_dirs=(str(self.var),),
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **self.hub_settings().environment(),
            # The portal's: it takes grades and learning events from the hub's services with the tokens the hub
            # keeps in its folder.
            "DJANGO_SETTINGS_MODULE": "studio_portal.settings.production",
            "STUDIO_GRADES_TOKEN_FILE": str(self.hub_dir / "grades_token"),
            "STUDIO_EVENTS_TOKEN_FILE": str(self.hub_dir / "events_token"),
            "STUDIO_PORTAL_DATA_DIR": str(self.var / "portal"),
            "STUDIO_PORTAL_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Where the portal's "Open in JupyterLab" and formgrader links go (the hub's own settings leave its
            # default address out of the environment).
            "STUDIO_HUB_URL": self.hub_url,
            **self.extra_env,
        }

    def up(self) -> None:
        """Set up what is missing (idempotent) and start both; the hub starts while the portal is being set up."""
        t0 = time.monotonic()
        ports = (
            self.hub_port,
            self.portal_port,
            self.hub_api_port,
            self.proxy_api_port,
            self.exchange_port,
            self.grading_port,
            self.hints_port,
        )
        busy = [p for p in ports if not port_is_free(p)]
        if busy:
            raise RuntimeError(f"ports {busy} on 127.0.0.1 are in use (another demo still running?)")
        self.var.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(mode=0o700, exist_ok=True)
        from studio_hub.content import publish
        from studio_hub.settings import Settings

        # Learners' copy: no source/, and lessons' practice answers cleared; the trusted side's: whole.
        publish(self.courses, self.var / "content")

        Settings.from_env(self.env(), root=ROOT)  # creates the hub's secret files (0600, in a 0700 folder)
        publish(self.courses, self.source_dir, trusted=True)
        hub = self._spawn("hub", [str(BIN / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")], cwd=self.hub_dir)
        self.setup_portal()
        self.start_portal()
        wait_for_http(f"{self.hub_url}/hub/health", hub, self.log_dir / "hub.log")
        self.started_in = time.monotonic() - t0

    def setup_portal(self) -> None:
        """Migrate, import the courses, register the hub's OAuth client, seed the demo accounts, collect static."""
        os.makedirs(self.var / "portal", mode=0o700, exist_ok=True)
        setup = [
            sys.executable,
            "-m",
            "django",
            "studio_setup",
            "--content",
            str(self.var / "content"),
            "--hub-secret-file",
            str(self.hub_dir / "oauth_client_secret"),
            "--hub-callback",
            f"{self.hub_url}/hub/oauth_callback",
            "--collectstatic",
            "--demo-passwords",
            str(self.passwords_file),
        ]
        result = subprocess.run(setup, env=self.env(), cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"portal set-up failed:\n{result.stdout}{result.stderr}")

    def _spawn(self, name: str, cmd: list[str], cwd: Path) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 -- lives as long as the process
        proc = subprocess.Popen(
            cmd, env=self.env(), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def start_portal(self) -> None:
        portal = self._spawn(
            "portal",
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.portal_port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                "studio_portal.wsgi:application",
            ],
            cwd=ROOT,
        )
        wait_for_http(f"{self.portal_url}/accounts/login/", portal, self.log_dir / "portal.log")

    def stop(self, *names: str) -> None:
        """Stop the named processes (default: all; the hub first, as it stops the proxy and learners' servers)."""
        for name in names or ("hub", "portal"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if not names or "hub" in names:
            self.stop_leftovers()

    def stop_leftovers(self) -> list[int]:
        """What a hub that died (a service failed at start, say) left running in sessions of their own, holding its
        ports: the proxy (its pid file) and the hub's services (their command lines name this stack's folders).
        Stopped (TERM, then KILL after 5 s); their pids."""
        pids = set()
        marker = str(self.var.resolve()) + "/"
        try:
            proxy = int((self.hub_dir / "proxy.pid").read_text().strip())
            if "configurable-http-proxy" in _cmdline(proxy):  # not another process that got the pid since
                pids.add(proxy)
        except (OSError, ValueError):
            pass
        pids |= {int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and marker in _cmdline(int(e.name))}
        pids.discard(os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.1)
        for pid in pids:
            if _running(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        (self.hub_dir / "proxy.pid").unlink(missing_ok=True)
        return sorted(pids)

    def manage(self, *args: str) -> str:
        """Run a portal management command against this stack's database; return its output."""
        result = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout


# Settings an operator may give `make demo` to run learners in gVisor containers instead of local processes.
DEMO_PASS_THROUGH = (
    "STUDIO_SPAWNER",
    "STUDIO_HUB_BIND_URL",
    "STUDIO_HUB_CONNECT_URL",
    "STUDIO_LEARNER_IMAGE",
    "STUDIO_DOCKER_NETWORK",
    "STUDIO_DOCKER_RUNTIME",
    "STUDIO_DOCKER_PREFIX",
    "STUDIO_CULL_TIMEOUT",
    "STUDIO_CULL_EVERY",
    "STUDIO_GRADING_SANDBOX",
)


def _seed_cohort(stack: Stack) -> None:
    """The demo cohort's work, in the background: the demo is ready meanwhile (scripts/demo_cohort.py)."""
    import demo_cohort

    try:
        demo_cohort.seed(stack, log=lambda line: print(line, flush=True))
    except Exception as e:  # noqa: BLE001 -- the demo goes on without it, and says why
        print(f"[demo] the cohort's work was not seeded: {type(e).__name__}: {e}", flush=True)


def _raise_interrupt(*_):
    raise KeyboardInterrupt


def demo() -> int:
    env = os.environ.get
    stack = Stack(
        var=Path(env("STUDIO_DEMO_VAR", ROOT / "var")),
        courses=sorted(p.parent for p in (ROOT / "course-content").glob("*/course.toml")),
        hub_port=int(env("STUDIO_HUB_PORT", 8000)),
        portal_port=int(env("STUDIO_PORTAL_PORT", 8001)),
        hub_api_port=int(env("STUDIO_HUB_API_PORT", 8081)),
        proxy_api_port=int(env("STUDIO_PROXY_API_PORT", 8082)),
        exchange_port=int(env("STUDIO_EXCHANGE_PORT", 8083)),
        grading_port=int(env("STUDIO_GRADING_PORT", 8084)),
        hints_port=int(env("STUDIO_HINTS_PORT", 8085)),
        extra_env={k: os.environ[k] for k in DEMO_PASS_THROUGH if os.environ.get(k)},
        # The course's assignments released at first start, as its instructor would (STUDIO_DEMO_RELEASE=0: not).
        publish=env("STUDIO_DEMO_RELEASE", "1") != "0",
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops it as cleanly as Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background (`&`)
    t0 = time.monotonic()
    print("[demo] setting up and starting the portal and JupyterHub …", flush=True)
    try:
        stack.up()
        _print_welcome(stack, seconds=time.monotonic() - t0)
        if stack.publish and env("STUDIO_DEMO_COHORT", "1") != "0":
            threading.Thread(target=_seed_cohort, args=(stack,), daemon=True).start()
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(0.5)
        print(f"[demo] a process stopped unexpectedly; see the logs in {stack.log_dir}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"[demo] {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] stopping …", flush=True)
        return 0
    finally:
        stack.stop()
        print("[demo] stopped.", flush=True)


def grading_isolation(stack: Stack) -> str:
    """What isolates graded submissions, as the grading service chooses it (the same function, the same settings)."""
    from studio_grader.sandbox import SandboxError, choose_engine, describe_engine

    settings = stack.hub_settings()
    image = stack.extra_env.get("STUDIO_LEARNER_IMAGE", settings.learner_image)
    runtime = stack.extra_env.get("STUDIO_DOCKER_RUNTIME", settings.docker_runtime)
    engine = stack.extra_env.get("STUDIO_GRADING_SANDBOX", "auto")
    try:
        if engine == "auto":
            engine, _ = choose_engine(image, runtime)
    except SandboxError as e:
        return f"OFF: {e}"
    return describe_engine(engine, image, runtime)


def _print_welcome(stack: Stack, *, seconds: float) -> None:
    from studio_hub.spawner import default_sandbox, describe_isolation, shared_warning

    isolation = "accounts" if os.geteuid() == 0 else "shared"
    if stack.extra_env.get("STUDIO_SPAWNER") == "docker":
        print("[demo] isolation: each learner in a hardened gVisor (runsc) container, firewalled but for the hub")
    else:
        print(f"[demo] isolation: {describe_isolation(isolation, default_sandbox())}")
    if isolation == "shared" and stack.extra_env.get("STUDIO_SPAWNER") != "docker":
        print(f"\n\033[1;33mWARNING:\033[0m {shared_warning(default_sandbox())}\n")
    print(f"[demo] grading: {grading_isolation(stack)}")
    accounts = "\n".join(f"{user}  password: {password}" for user, password in stack.passwords.items())
    released = (
        "\nIts assignments are released in the first minute, due a week apart (the grading service does what an "
        "instructor\nwould with nbgrader): students find them on the course page and in JupyterLab's Nbgrader → "
        "Assignment List."
        if stack.publish
        else ""
    )
    print(
        f"""
Learning Studio is running (ready in {seconds:.1f} s).

  Portal (start here):  {stack.portal_url}/
  JupyterHub:           {stack.hub_url}/
  Portal admin:         {stack.portal_url}/cms/   (instructor1)
  Grading, formgrader:  {stack.service_url("grading")}   (grader1, instructor1)

Demo accounts (also in {stack.passwords_file}):
  {accounts.replace(chr(10), chr(10) + "  ")}

student1 and student2 are enrolled in "Introduction to Python"; student3 is not (try enrolling).{released}
Logs: {stack.log_dir}/portal.log, {stack.log_dir}/hub.log. Press Ctrl-C to stop.
""",
        flush=True,
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["demo"]:
        sys.exit(__doc__)
    sys.exit(demo())

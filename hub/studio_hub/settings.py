"""The hub's settings, read once from ``STUDIO_*`` environment variables.

Everything the config functions need is in one frozen object, so that ``update_*(c, settings)`` stay pure and
can be tested with a hand-made ``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse

from . import secrets

DEFAULT_CLIENT_ID = "learning-studio-hub"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    content_dir: Path
    # The grading service's course folders: beside data_dir, not in it (data_dir is the hub's alone, 0700; each
    # course's formgrader account enters its own course folder there). Default: <data_dir>/../grading.
    grading_dir: Path | None = None
    # Where browsers reach the hub. Each learner's server is served from an origin of its own under this host
    # (JupyterHub's subdomain_host): <name>.localhost for the embedded default (browsers resolve *.localhost to
    # this machine); an operator gives the host wildcard DNS and a wildcard TLS certificate (docs/security.md).
    public_url: str = "http://localhost:8000"
    subdomain_host: str = ""  # "": the public URL's host; else the parent host of learners' and services' origins
    hub_bind_url: str = "http://127.0.0.1:8081"
    proxy_api_url: str = "http://127.0.0.1:8082"
    portal_url: str = "http://127.0.0.1:8001"
    portal_internal_url: str = ""
    oauth_client_id: str = DEFAULT_CLIENT_ID
    oauth_client_secret: str = field(default="", repr=False)
    crypt_key: str = field(default="", repr=False)
    proxy_auth_token: str = field(default="", repr=False)
    learner_isolation: str = ""  # "accounts", "shared", or "" to choose by the hub's uid
    learner_user_prefix: str = "ls-"
    learner_home_base: str = "/home"
    # More folders learners must not see (the portal's data, logs, demo passwords), besides data_dir.
    private_dirs: tuple[str, ...] = ()
    spawner: str = "local"  # "local" (embedded default) or "docker" (gVisor containers)
    hub_connect_url: str = ""  # how learners' containers reach the hub API, e.g. http://172.30.0.1:8081
    learner_image: str = "studio-learner:latest"
    docker_network: str = "studio-learners"
    docker_runtime: str = "runsc"
    docker_prefix: str = "studio-learner"  # names of learners' containers and home volumes start with it
    # Mount the host's content_dir into learners' containers at /srv/content. Off when the learner image carries
    # the courses itself (docker-compose): the hub then runs in a container and host paths mean nothing to it.
    docker_mount_content: bool = True
    # Each learner's home in the Docker mode: an ext4 image of this size on a loop device; "0": unbounded volume.
    docker_home_size: str = "1G"
    # Learners' containers started ahead of their learners (SandboxedDockerSpawner.warm_pool_size); needs the hub
    # on the Docker host (not docker-compose, whose hub cannot mount homes into containers on the host).
    docker_warm_pool: int = 1
    # The exchange service (studio_hub.exchange) listens on the hub API's address at this port; learners reach it
    # where they reach the hub API (hub_connect_url), at this port.
    exchange_port: int = 8083
    # The grading service (studio_grader.service): autogrades every submission in gVisor sandboxes of learner_image
    # and serves each course's formgrader; it listens next to the exchange, at this port.
    grading: bool = True
    grading_port: int = 8084
    grading_workers: int = 0  # submissions graded at once; 0: the number of cores plus one
    # What runs grading sandboxes: "docker" (gVisor containers of learner_image), "runsc" (gVisor on this machine's
    # system, no Docker), "bwrap" (bubblewrap on this machine, no Docker), both for a root hub; "auto": Docker when it
    # has the runtime and the image, else runsc where it is installed, else bubblewrap.
    grading_sandbox: str = "auto"
    # The course repository with its instructors' source/ (solutions, hidden tests), for the trusted side only (the
    # grading service, the hints service); None: content_dir (which then has no source: an instructor's release
    # brings it). The embedded default keeps a copy in data_dir.
    source_dir: Path | None = None
    # Release the course repository's assignments at start (the demo's: GradingService.publish).
    grading_publish: bool = False
    grading_rescan: int = 60  # seconds between the service's own looks for ungraded work and changed scores
    # Each course's formgrader runs under a Unix account of the course's own, named so (then a digest of the id).
    formgrader_account_prefix: str = "studio-fg-"
    gradebook_url: str = field(default="", repr=False)  # PostgreSQL for the courses' gradebooks; "": SQLite each
    grades_token: str = field(default="", repr=False)  # the portal takes grades from the grading service with it
    events_token: str = field(default="", repr=False)  # and learning events from the hints service with this one
    # The hints service (studio_hub.hints): next-step hints for exercises, and the learning-event queue. It listens
    # next to the exchange, at this port; its state (rate limits, ladder positions, cache, events, hint log) is in
    # Redis when hints_state_url is set, else in its own process and a SQLite file.
    hints: bool = True
    hints_port: int = 8085
    hints_provider: str = "tutor"  # ladder, tutor (no model needed) or llm
    hints_state_url: str = field(default="", repr=False)
    hints_config: str = ""  # a traitlets config file for the service (the llm provider's endpoint and key file)
    db_url: str = field(default="", repr=False)  # the hub's database; default SQLite in data_dir
    proxy_external: bool = False  # True: configurable-http-proxy runs on its own (docker-compose), not from the hub
    cull_timeout: int = 3600  # seconds a learner's server may idle before it is stopped; 0: never
    cull_every: int = 300  # how often (seconds) the culler looks
    bin_dir: Path = Path(sys.executable).parent.resolve()  # real path: learners may not enter a symlinked checkout

    @property
    def portal_backend_url(self) -> str:
        """Where the hub itself reaches the portal (token and userinfo calls)."""
        return self.portal_internal_url or self.portal_url

    @property
    def user_origins_host(self) -> str:
        """scheme://host[:port] under which each learner's server and each service gets an origin of its own."""
        url = urlparse(self.subdomain_host or self.public_url)
        host = url.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return f"{url.scheme}://{url.netloc}"
        name = "STUDIO_SUBDOMAIN_HOST" if self.subdomain_host else "STUDIO_HUB_URL"
        raise ValueError(
            f"{name} must name a host, not the address {host}: each learner's server is served from "
            f"<name>.<host> so that its pages cannot act as a visiting grader or admin on the hub "
            f"(http://localhost:8000 on one machine; a wildcard DNS name in production)"
        )

    @property
    def proxy_bind_url(self) -> str:
        """Where the proxy listens: the public URL, but on 127.0.0.1 for localhost (not wherever a resolver puts
        'localhost' first: ::1 on this machine)."""
        url = urlparse(self.public_url)
        if url.hostname == "localhost":
            port = url.port or (443 if url.scheme == "https" else 80)
            return url._replace(netloc=f"127.0.0.1:{port}").geturl()
        return self.public_url

    @property
    def oauth_callback_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/hub/oauth_callback"

    @property
    def exchange_bind_url(self) -> str:
        return _with_port(self.hub_bind_url, self.exchange_port)

    @property
    def exchange_url(self) -> str:
        """Where learners' and graders' servers call the exchange (the service's own address, not the proxy)."""
        return _with_port(self.hub_connect_url or self.hub_bind_url, self.exchange_port) + "/services/exchange/"

    @property
    def grading_bind_url(self) -> str:
        return _with_port(self.hub_bind_url, self.grading_port)

    @property
    def grading_url(self) -> str:
        """Where learners' and graders' servers call the grading service (an instructor's release sends source)."""
        return _with_port(self.hub_connect_url or self.hub_bind_url, self.grading_port) + "/services/grading/"

    @property
    def hints_bind_url(self) -> str:
        return _with_port(self.hub_bind_url, self.hints_port)

    @property
    def hints_url(self) -> str:
        """Where learners' servers call the hints service."""
        return _with_port(self.hub_connect_url or self.hub_bind_url, self.hints_port) + "/services/hints/"

    @property
    def course_folders(self) -> Path:
        return self.grading_dir or self.data_dir.parent / "grading"

    @property
    def shared_home_base(self) -> Path:
        return self.data_dir / "homes"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, root: Path | None = None) -> Settings:
        """Read settings from the environment (``ENVIRONMENT``), creating the hub's secret files on first use."""
        env = os.environ if environ is None else environ
        root = root or Path.cwd()
        types = {f.name: f.type for f in fields(cls)}
        values = {key: _parse(name, env[name], types[key]) for key, name in ENVIRONMENT.items() if env.get(name)}
        data_dir = secrets.private_dir(Path(values.pop("data_dir", root / "var" / "hub")).resolve())
        values.setdefault("grading_dir", (data_dir.parent / "grading").resolve())
        values.setdefault("content_dir", (root / "var" / "content").resolve())
        # Secrets come from the environment when the operator sets them (docker-compose's .env), else from files
        # generated in data_dir on first use (the embedded default).
        for key in SECRET_FILES:
            if key not in values:
                values[key] = secrets.read_or_create(data_dir / key)
        return cls(data_dir=data_dir, **values)

    def environment(self) -> dict[str, str]:
        """The variables ``from_env`` reads back as these settings, but for the secrets (which the hub reads from its
        files) and the settings left at their defaults (which an operator's own variables may set): what a script
        starting the hub adds to its environment, and what the portal beside it reads too."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ENVIRONMENT or f.name in SECRET_FILES or value in (None, "", ()):
                continue
            if value == (f.default_factory() if f.default_factory is not MISSING else f.default):
                continue
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, tuple):
                text = os.pathsep.join(value)
            else:
                text = str(value)
            out[ENVIRONMENT[f.name]] = text
        return out


# Each setting's environment variable.
ENVIRONMENT = {
    "data_dir": "STUDIO_HUB_DATA_DIR",
    "grading_dir": "STUDIO_GRADING_DIR",
    "content_dir": "STUDIO_CONTENT_DIR",
    "private_dirs": "STUDIO_PRIVATE_DIRS",
    "public_url": "STUDIO_HUB_URL",
    "subdomain_host": "STUDIO_SUBDOMAIN_HOST",
    "hub_bind_url": "STUDIO_HUB_BIND_URL",
    "proxy_api_url": "STUDIO_PROXY_API_URL",
    "portal_url": "STUDIO_PORTAL_URL",
    "portal_internal_url": "STUDIO_PORTAL_INTERNAL_URL",
    "oauth_client_id": "STUDIO_HUB_OAUTH_CLIENT_ID",
    "oauth_client_secret": "STUDIO_HUB_OAUTH_CLIENT_SECRET",
    "crypt_key": "JUPYTERHUB_CRYPT_KEY",
    "proxy_auth_token": "CONFIGPROXY_AUTH_TOKEN",
    "learner_isolation": "STUDIO_LEARNER_ISOLATION",
    "learner_user_prefix": "STUDIO_LEARNER_USER_PREFIX",
    "learner_home_base": "STUDIO_LEARNER_HOME_BASE",
    "spawner": "STUDIO_SPAWNER",
    "hub_connect_url": "STUDIO_HUB_CONNECT_URL",
    "learner_image": "STUDIO_LEARNER_IMAGE",
    "docker_network": "STUDIO_DOCKER_NETWORK",
    "docker_runtime": "STUDIO_DOCKER_RUNTIME",
    "docker_prefix": "STUDIO_DOCKER_PREFIX",
    "docker_mount_content": "STUDIO_DOCKER_MOUNT_CONTENT",
    "docker_home_size": "STUDIO_HOME_SIZE",
    "docker_warm_pool": "STUDIO_WARM_POOL",
    "exchange_port": "STUDIO_EXCHANGE_PORT",
    "grading": "STUDIO_GRADING",
    "grading_port": "STUDIO_GRADING_PORT",
    "grading_workers": "STUDIO_GRADING_WORKERS",
    "grading_sandbox": "STUDIO_GRADING_SANDBOX",
    "source_dir": "STUDIO_SOURCE_DIR",
    "grading_publish": "STUDIO_GRADING_PUBLISH",
    "grading_rescan": "STUDIO_GRADING_RESCAN",
    "formgrader_account_prefix": "STUDIO_FORMGRADER_ACCOUNT_PREFIX",
    "gradebook_url": "STUDIO_GRADEBOOK_URL",
    "grades_token": "STUDIO_GRADES_TOKEN",
    "events_token": "STUDIO_EVENTS_TOKEN",
    "hints": "STUDIO_HINTS",
    "hints_port": "STUDIO_HINTS_PORT",
    "hints_provider": "STUDIO_HINTS_PROVIDER",
    "hints_state_url": "STUDIO_HINTS_STATE_URL",
    "hints_config": "STUDIO_HINTS_CONFIG",
    "db_url": "STUDIO_HUB_DB_URL",
    "proxy_external": "STUDIO_PROXY_EXTERNAL",
    "cull_timeout": "STUDIO_CULL_TIMEOUT",
    "cull_every": "STUDIO_CULL_EVERY",
}
# Secrets the hub generates into a file of data_dir (named so) when the environment does not give them.
SECRET_FILES = ("grades_token", "events_token", "oauth_client_secret", "crypt_key", "proxy_auth_token")


def _parse(name: str, value: str, kind: str):
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if kind == "bool":
        return _flag(name, value)
    if kind.startswith("Path"):
        return Path(value).resolve()
    if kind.startswith("tuple"):
        return tuple(p for p in value.split(os.pathsep) if p)
    return value


def _with_port(url: str, port: int) -> str:
    parts = urlparse(url)
    return parts._replace(netloc=f"{parts.hostname}:{port}", path="").geturl()


def _flag(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0, not {value!r}")

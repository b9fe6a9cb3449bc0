"""Hub configuration as small pure functions: each ``update_*(c, settings)`` only sets values on ``c``.

``jupyterhub_config.py`` calls :func:`apply_config`; tests call the functions with a bare
``traitlets.config.Config()``.
"""

from __future__ import annotations

from traitlets.config import Config

from .notices import server_notice
from .origins import subdomain_hook
from .settings import Settings

# The groups claim the portal puts in userinfo, mirrored into hub groups on every login and refresh.
GROUPS_KEY = "oauth_user.groups"
# How old (seconds) the hub's copy of a user's portal roles may get before the next hub request re-reads it.
REFRESH_SECONDS = 5
# Portal staff carry this group; it makes them hub admins.
STAFF_GROUP = "portal-staff"
# What a learner's own server may do with its $JUPYTERHUB_API_TOKEN: report activity, and read its owner's
# name and groups (the lesson extension checks course membership with it).
# and call the exchange and grading services as its owner (nbgrader's fetch/submit/release, terminal or JupyterLab),
# and the hints service (hints, learning events).
SERVICE_SCOPES = [
    "access:services!service=exchange",
    "access:services!service=grading",
    "access:services!service=hints",
]
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    "read:users:name!user",
    "read:users:groups!user",
    *SERVICE_SCOPES,
]
# Every user may call the exchange, grading and hints services; what they may do there, the services decide by
# their course groups.
USER_ROLE = {"name": "user", "scopes": ["self", *SERVICE_SCOPES]}


def update_base(c: Config, s: Settings) -> None:
    c.JupyterHub.bind_url = s.proxy_bind_url
    c.JupyterHub.public_url = s.public_url.rstrip("/") + "/"
    # Per-user origins: a learner's server at <name>.<host>, each service at <service>--service.<host>. What a
    # learner's server serves (they control its files) then runs on an origin of its own, not the hub's: it cannot
    # read a visiting grader's or admin's hub cookies, the hub's pages or the formgrader's.
    c.JupyterHub.subdomain_host = s.user_origins_host
    c.JupyterHub.subdomain_hook = subdomain_hook  # not JupyterHub's: "Casey" and "casey" get two origins
    c.JupyterHub.hub_bind_url = s.hub_bind_url
    c.JupyterHub.db_url = s.db_url or f"sqlite:///{s.data_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(s.data_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(s.data_dir / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.CryptKeeper.keys = [s.crypt_key.encode()]
    # The banner on the hub's pages: why a learner's server stopped on its own, next to the button that restarts it.
    c.JupyterHub.template_vars = {"announcement": server_notice}


def update_proxy(c: Config, s: Settings) -> None:
    c.ConfigurableHTTPProxy.api_url = s.proxy_api_url
    c.ConfigurableHTTPProxy.auth_token = s.proxy_auth_token
    c.ConfigurableHTTPProxy.command = [str(s.bin_dir / "configurable-http-proxy")]
    c.ConfigurableHTTPProxy.pid_file = str(s.data_dir / "proxy.pid")
    c.ConfigurableHTTPProxy.should_start = not s.proxy_external


def update_authenticator(c: Config, s: Settings) -> None:
    """Log in through the portal's OpenID Connect provider: authorization code + PKCE, no hub password."""
    portal, backend = s.portal_url.rstrip("/"), s.portal_backend_url.rstrip("/")
    c.JupyterHub.authenticator_class = "studio_hub.auth.PortalOAuthenticator"
    a = c.PortalOAuthenticator
    a.login_service = "Learning Studio"
    a.client_id = s.oauth_client_id
    a.client_secret = s.oauth_client_secret
    a.oauth_callback_url = s.oauth_callback_url
    a.authorize_url = f"{portal}/o/authorize/"
    a.token_url = f"{backend}/o/token/"
    a.userdata_url = f"{backend}/o/userinfo/"
    a.scope = ["openid", "profile", "email", "courses"]
    a.username_claim = "preferred_username"
    a.enable_pkce = True
    a.auto_login = True
    a.allow_all = True
    a.manage_groups = True
    a.auth_state_groups_key = GROUPS_KEY
    a.admin_groups = {STAFF_GROUP}
    a.enable_auth_state = True
    # Roles are re-read from the portal on any hub request (including a learner's server asking for its owner's
    # groups) once the last read is older than this, and always before a server starts: a student who just
    # enrolled can open the course's lessons within seconds.
    a.auth_refresh_age = REFRESH_SECONDS
    a.refresh_pre_spawn = True
    # Logging out of the hub continues at the portal, which offers to end the portal session too.
    a.logout_redirect_url = f"{portal}/accounts/logout/"


def update_spawner(c: Config, s: Settings) -> None:
    c.JupyterHub.spawner_class = "studio_hub.spawner.LearnerSpawner"
    c.Spawner.cmd = [str(s.bin_dir / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.environment = {
        "STUDIO_CONTENT_DIR": str(s.content_dir),
        "STUDIO_PORTAL_URL": s.portal_url,
        "STUDIO_EXCHANGE_URL": s.exchange_url,
        **_services_env(s),
    }
    c.Spawner.server_token_scopes = list(SERVER_TOKEN_SCOPES)
    # A learner's own files never configure their server (~/.jupyter, ~/.local/share/jupyter): no server extension
    # or setting of theirs is loaded into the pages a visiting grader or admin opens there.
    c.Spawner.disable_user_config = True
    c.Spawner.start_timeout = 90
    c.Spawner.http_timeout = 90
    c.LearnerSpawner.user_prefix = s.learner_user_prefix
    c.LearnerSpawner.account_home_base = s.learner_home_base
    c.LearnerSpawner.shared_home_base = str(s.shared_home_base)
    grading = [str(s.course_folders)] if s.grading else []
    if s.grading:  # there before any learner's server starts (the grading service may not have made it yet)
        s.course_folders.mkdir(mode=0o711, parents=True, exist_ok=True)
    c.LearnerSpawner.private_paths = [str(s.data_dir), *grading, *s.private_dirs]
    # The course content, and the virtualenv the server runs from (it may sit under /tmp, which bwrap replaces).
    c.LearnerSpawner.readonly_paths = [str(s.content_dir), str(s.bin_dir.parent)]
    if s.learner_isolation:
        c.LearnerSpawner.isolation = s.learner_isolation


def _services_env(s: Settings) -> dict[str, str]:
    """An instructor's nbgrader release_assignment also sends the assignment's source to the grading service; the
    hints extension asks the hints service."""
    env = {"STUDIO_GRADING_URL": s.grading_url} if s.grading else {}
    return {**env, "STUDIO_HINTS_URL": s.hints_url} if s.hints else env


def update_docker_spawner(c: Config, s: Settings) -> None:
    """One machine: learners in gVisor containers (SandboxedDockerSpawner) instead of local processes."""
    if s.spawner != "docker":
        return
    c.JupyterHub.spawner_class = "studio_hub.docker.SandboxedDockerSpawner"
    if s.hub_connect_url:
        c.JupyterHub.hub_connect_url = s.hub_connect_url
    d = c.SandboxedDockerSpawner
    d.image = s.learner_image
    d.network_name = s.docker_network
    d.runtime = s.docker_runtime
    d.prefix = s.docker_prefix
    d.cmd = ["jupyterhub-singleuser"]
    d.home_size = s.docker_home_size
    d.warm_pool_size = s.docker_warm_pool
    d.home_images_dir = str(s.data_dir / "home-images")
    d.poll_interval = 10  # notice a server that died (and why) within seconds, not the default 30
    d.environment = {
        "STUDIO_CONTENT_DIR": "/srv/content",
        "STUDIO_PORTAL_URL": s.portal_url,
        "STUDIO_EXCHANGE_URL": s.exchange_url,
        **_services_env(s),
    }
    d.host_ports = [s.exchange_port, s.grading_port, s.hints_port]  # besides the hub API: the services
    # Else the learner image's own /srv/content (the courses it was built with) is what learners see.
    d.read_only_volumes = {str(s.content_dir): "/srv/content"} if s.docker_mount_content else {}


def update_services(c: Config, s: Settings) -> None:
    """Hub-managed services: the exchange (nbgrader's, over HTTP), grading (autograding in sandboxes, formgrader per
    course), the idle culler (stops idle servers)."""
    python = str(s.bin_dir / "python")
    exchange = [python, "-m", "studio_hub.exchange", "--data-dir", str(s.data_dir / "exchange")]
    exchange += ["--portal-url", s.portal_backend_url]  # each release and student's work, for the portal's pages
    services = [
        {
            "name": "exchange",
            "url": s.exchange_bind_url,
            "command": exchange,
            "display": False,
            "environment": {"STUDIO_GRADES_TOKEN": s.grades_token},
        }
    ]
    roles = [dict(USER_ROLE, scopes=list(USER_ROLE["scopes"]))]
    if s.grading:
        grading_url = s.grading_bind_url + "/services/grading/"
        exchange += ["--trust-service", "grading", "--notify-url", grading_url]
        command = [
            python,
            "-m",
            "studio_grader.service",
            "--data-dir",
            str(s.course_folders),
            "--moved-from",
            str(s.data_dir / "grading"),
            "--content-dir",
            str(s.source_dir or s.content_dir),
            "--exchange-url",
            s.exchange_bind_url + "/services/exchange/",
            "--image",
            s.learner_image,
            "--runtime",
            s.docker_runtime,
            "--engine",
            s.grading_sandbox,
            "--portal-url",
            s.portal_backend_url,
            "--rescan",
            str(s.grading_rescan),
            "--sandbox-prefix",
            f"{s.docker_prefix}-grade",
            "--formgrader-account-prefix",
            s.formgrader_account_prefix,
        ]
        if s.grading_workers:
            command += ["--workers", str(s.grading_workers)]
        if s.grading_publish:
            command += ["--publish"]
        environment = {"STUDIO_GRADEBOOK_URL": s.gradebook_url, "STUDIO_GRADES_TOKEN": s.grades_token}
        services.append(
            {
                "name": "grading",
                "url": s.grading_bind_url,
                "command": command,
                "environment": environment,
                "display": True,  # "Formgrader" on the hub's home page; the service lists the courses one grades
                "oauth_no_confirm": True,
                # Formgrader in the browser: the service reads the user's groups to know which courses they grade.
                "oauth_client_allowed_scopes": ["read:users:groups!user"],
            }
        )
        roles.append(
            {
                "name": "grading",
                "services": ["grading", "exchange"],
                "scopes": ["access:services!service=exchange", "access:services!service=grading"],
            }
        )
    if s.hints:
        # The course source (solutions, hint ladders): as released to the grading service, else the content's.
        hints = [
            python,
            "-m",
            "studio_hub.hints",
            "--data-dir",
            str(s.data_dir / "hints"),
            "--source-dir",
            str(s.course_folders),
            *(["--source-dir", str(s.source_dir)] if s.source_dir else []),
            "--source-dir",
            str(s.content_dir),
            "--provider",
            s.hints_provider,
            "--portal-url",
            s.portal_backend_url,
        ]
        if s.hints_config:
            hints += ["--config", s.hints_config]
        # The learning-event queue goes to the portal's analytics with a token for events only (never grades).
        services.append(
            {
                "name": "hints",
                "url": s.hints_bind_url,
                "command": hints,
                "display": False,
                "environment": {"STUDIO_HINTS_STATE_URL": s.hints_state_url, "STUDIO_EVENTS_TOKEN": s.events_token},
            }
        )
    if s.cull_timeout > 0:
        services.append(
            {
                "name": "idle-culler",
                "command": [
                    str(s.bin_dir / "python"),
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={s.cull_timeout}",
                    f"--cull-every={s.cull_every}",
                ],
            }
        )
        roles.append(
            {
                "name": "idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        )
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles


# Order matters: update_docker_spawner replaces what update_spawner chose for the local default.
UPDATES = (update_base, update_proxy, update_authenticator, update_spawner, update_docker_spawner, update_services)


def apply_config(c: Config, s: Settings) -> Config:
    for update in UPDATES:
        update(c, s)
    return c

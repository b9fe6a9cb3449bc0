"""The hub's config functions, applied to a bare traitlets Config (no hub)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from traitlets.config import Config

from studio_hub import config
from studio_hub.settings import Settings


def test_authenticator_uses_portal_oidc_with_pkce_and_groups(settings):
    c = config.apply_config(Config(), settings)
    a = c.PortalOAuthenticator
    assert c.JupyterHub.authenticator_class == "studio_hub.auth.PortalOAuthenticator"
    assert a.authorize_url == "https://learn.example.org/o/authorize/"  # the browser goes to the public URL
    assert a.token_url == "http://portal:8000/o/token/"  # the hub itself uses the internal one
    assert a.userdata_url == "http://portal:8000/o/userinfo/"
    assert a.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    assert a.enable_pkce is True
    assert a.manage_groups is True and a.auth_state_groups_key == "oauth_user.groups"
    assert a.admin_groups == {"portal-staff"}
    assert a.auto_login is True  # no hub login form: nobody types a password into the hub
    assert a.client_secret == "s3cret"
    assert a.logout_redirect_url == "https://learn.example.org/accounts/logout/"
    assert "courses" in a.scope and "openid" in a.scope
    assert a.refresh_pre_spawn is True and 0 < a.auth_refresh_age <= 10


def test_secrets_come_from_settings_not_from_literals(settings):
    c = config.apply_config(Config(), settings)
    assert c.ConfigurableHTTPProxy.auth_token == "proxy-token"
    assert c.CryptKeeper["keys"] == [("ab" * 32).encode()]  # .keys would be the dict method
    assert c.JupyterHub.cookie_secret_file == str(settings.data_dir / "jupyterhub_cookie_secret")
    assert "s3cret" not in repr(settings) and "proxy-token" not in repr(settings)


def test_spawner_is_learner_spawner_with_narrow_server_token(settings):
    c = config.apply_config(Config(), settings)
    assert c.JupyterHub.spawner_class == "studio_hub.spawner.LearnerSpawner"
    assert c.Spawner.default_url == "/lab"
    assert c.Spawner.environment == {
        "STUDIO_CONTENT_DIR": str(settings.content_dir),
        "STUDIO_PORTAL_URL": "https://learn.example.org",
        "STUDIO_EXCHANGE_URL": "http://127.0.0.1:8083/services/exchange/",
        "STUDIO_GRADING_URL": "http://127.0.0.1:8084/services/grading/",
        "STUDIO_HINTS_URL": "http://127.0.0.1:8085/services/hints/",
    }
    assert "read:users:groups!user" in c.Spawner.server_token_scopes
    assert "access:services!service=exchange" in c.Spawner.server_token_scopes
    assert not any(
        s.startswith(("admin", "read:users!", "users"))
        for s in c.Spawner.server_token_scopes
        if not s.startswith("users:activity")
    )
    assert c.Spawner.disable_user_config is True  # a learner's own files never configure their server
    assert "isolation" not in c.LearnerSpawner  # chosen by the hub's uid unless configured


def test_isolation_is_passed_through_when_set(settings):
    from dataclasses import replace

    c = config.apply_config(Config(), replace(settings, learner_isolation="shared"))
    assert c.LearnerSpawner.isolation == "shared"


def test_applying_twice_gives_the_same_config(settings):
    once = config.apply_config(Config(), settings)
    twice = config.apply_config(config.apply_config(Config(), settings), settings)
    assert once == twice


def test_from_env_creates_private_secret_files_once(tmp_path: Path):
    env = {"STUDIO_HUB_DATA_DIR": str(tmp_path / "hub"), "STUDIO_PORTAL_URL": "http://127.0.0.1:9"}
    first = Settings.from_env(env, root=tmp_path)
    second = Settings.from_env(env, root=tmp_path)
    assert first.oauth_client_secret == second.oauth_client_secret != ""
    assert first.crypt_key == second.crypt_key and first.proxy_auth_token == second.proxy_auth_token
    assert len({first.oauth_client_secret, first.crypt_key, first.proxy_auth_token}) == 3
    assert stat.S_IMODE((tmp_path / "hub").stat().st_mode) == 0o700
    for name in ("oauth_client_secret", "crypt_key", "proxy_auth_token"):
        assert stat.S_IMODE((tmp_path / "hub" / name).stat().st_mode) == 0o600
    assert first.portal_url == "http://127.0.0.1:9"


def test_settings_give_the_environment_they_are_read_from(tmp_path: Path):
    """scripts/embedded.py starts the hub with Settings(...).environment(): read back, the same settings."""
    from dataclasses import fields, replace

    first = Settings.from_env({"STUDIO_HUB_DATA_DIR": str(tmp_path / "hub")}, root=tmp_path)
    changed = replace(
        first,
        public_url="http://localhost:9000",
        private_dirs=(str(tmp_path / "a"), str(tmp_path / "b")),
        grading=False,
        docker_mount_content=False,
        exchange_port=9083,
        grading_workers=3,
        learner_image="studio-learner:x",
        gradebook_url="postgresql+psycopg://hub:pw@db/grading",
    )
    environment = changed.environment()
    assert not {"STUDIO_GRADES_TOKEN", "JUPYTERHUB_CRYPT_KEY", "CONFIGPROXY_AUTH_TOKEN"} & set(environment)
    # What is left at its default is not said, so that the operator's own variable (say, a learner account prefix)
    # reaches the hub through the script that starts it.
    assert "STUDIO_LEARNER_USER_PREFIX" not in environment and environment["STUDIO_EXCHANGE_PORT"] == "9083"
    again = Settings.from_env(environment, root=tmp_path / "elsewhere")
    differ = [f.name for f in fields(Settings) if getattr(again, f.name) != getattr(changed, f.name)]
    assert differ == [], differ  # the secrets too: the same files in the same data_dir


def test_empty_secret_file_is_an_error_not_an_empty_secret(tmp_path: Path):
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "crypt_key").write_text("")
    with pytest.raises(RuntimeError, match="crypt_key is empty"):
        Settings.from_env({"STUDIO_HUB_DATA_DIR": str(tmp_path / "hub")}, root=tmp_path)


def test_idle_culler_is_a_hub_managed_service_with_least_privilege(settings):
    from dataclasses import replace

    c = config.apply_config(Config(), replace(settings, cull_timeout=900, cull_every=60))
    services = {s["name"]: s for s in c.JupyterHub.services}
    service = services["idle-culler"]
    assert service["command"][1:] == ["-m", "jupyterhub_idle_culler", "--timeout=900", "--cull-every=60"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    role = roles["idle-culler"]
    assert role["services"] == ["idle-culler"] and "admin:users" not in role["scopes"]
    assert set(role["scopes"]) == {"list:users", "read:users:activity", "read:servers", "delete:servers"}
    off = config.apply_config(Config(), replace(settings, cull_timeout=0))
    assert [s["name"] for s in off.JupyterHub.services] == ["exchange", "grading", "hints"]
    assert [r["name"] for r in off.JupyterHub.load_roles] == ["user", "grading"]


def test_exchange_is_a_hub_managed_service_every_user_may_call(settings):
    from dataclasses import replace

    c = config.apply_config(Config(), replace(settings, exchange_port=9183))
    (exchange,) = [s for s in c.JupyterHub.services if s["name"] == "exchange"]
    assert exchange["url"] == "http://127.0.0.1:9183"
    assert exchange["command"][1:5] == [
        "-m",
        "studio_hub.exchange",
        "--data-dir",
        str(settings.data_dir / "exchange"),
    ]
    assert "api_token" not in exchange and "oauth_client_id" not in exchange  # the hub makes its token
    (user,) = [r for r in c.JupyterHub.load_roles if r["name"] == "user"]
    assert set(user["scopes"]) == {
        "self",
        "access:services!service=exchange",
        "access:services!service=grading",
        "access:services!service=hints",
    }
    assert "services" not in user and "users" not in user


def test_grading_is_a_hub_managed_service_the_exchange_trusts_and_tells(settings):
    from dataclasses import replace

    c = config.apply_config(
        Config(),
        replace(settings, grading_port=9184, grading_workers=2, gradebook_url="postgresql+psycopg://g:pw@db/grading"),
    )
    services = {s["name"]: s for s in c.JupyterHub.services}
    grading, exchange = services["grading"], services["exchange"]
    assert grading["url"] == "http://127.0.0.1:9184"
    cmd = grading["command"]
    assert cmd[1:3] == ["-m", "studio_grader.service"] and cmd[cmd.index("--workers") + 1] == "2"
    assert cmd[cmd.index("--exchange-url") + 1] == "http://127.0.0.1:8083/services/exchange/"
    assert cmd[cmd.index("--image") + 1] == settings.learner_image and cmd[cmd.index("--runtime") + 1] == "runsc"
    assert cmd[cmd.index("--rescan") + 1] == "60"
    # Secrets travel in the environment, never on a command line (which every local user can read).
    assert grading["environment"]["STUDIO_GRADEBOOK_URL"].endswith("@db/grading")
    # Its sandboxes' containers are named after the learners' (docker-compose's clean-up and ours find them).
    assert cmd[cmd.index("--sandbox-prefix") + 1] == f"{settings.docker_prefix}-grade"
    assert not any("pw@" in part for part in cmd)
    assert grading["oauth_client_allowed_scopes"] == ["read:users:groups!user"]
    # Course folders beside the hub's private folder (formgraders' accounts enter theirs), hidden from learners; the
    # service moves them from where they were kept before; formgraders' accounts are named with the prefix.
    folders = settings.data_dir.parent / "grading"
    assert cmd[cmd.index("--data-dir") + 1] == str(folders) and oct(folders.stat().st_mode & 0o777) == "0o711"
    assert cmd[cmd.index("--moved-from") + 1] == str(settings.data_dir / "grading")
    assert cmd[cmd.index("--formgrader-account-prefix") + 1] == "studio-fg-"
    assert str(folders) in c.LearnerSpawner.private_paths
    ex = exchange["command"]
    assert ex[ex.index("--trust-service") + 1] == "grading"
    assert ex[ex.index("--notify-url") + 1] == "http://127.0.0.1:9184/services/grading/"
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "grading"]
    assert set(role["services"]) == {"grading", "exchange"}
    assert set(role["scopes"]) == {"access:services!service=exchange", "access:services!service=grading"}
    off = config.apply_config(Config(), replace(settings, grading=False))
    assert "grading" not in {s["name"] for s in off.JupyterHub.services}
    assert "--trust-service" not in {s["name"]: s for s in off.JupyterHub.services}["exchange"]["command"]
    assert "STUDIO_GRADING_URL" not in off.Spawner.environment


def test_learners_containers_reach_the_exchange_where_they_reach_the_hub(settings):
    from dataclasses import replace

    docker = replace(
        settings,
        spawner="docker",
        hub_bind_url="http://172.30.0.1:8081",
        hub_connect_url="http://172.30.0.1:8081",
        exchange_port=8093,
    )
    c = config.apply_config(Config(), docker)
    (exchange,) = [s for s in c.JupyterHub.services if s["name"] == "exchange"]
    assert exchange["url"] == "http://172.30.0.1:8093"
    d = c.SandboxedDockerSpawner
    assert d.environment["STUDIO_EXCHANGE_URL"] == "http://172.30.0.1:8093/services/exchange/"
    assert d.host_ports == [8093, 8084, 8085]  # let through the learners' firewall: exchange, grading, hints


def test_docker_spawner_is_chosen_by_settings(settings):
    from dataclasses import replace

    c = config.apply_config(Config(), replace(settings, spawner="docker", hub_connect_url="http://172.30.0.1:8081"))
    assert c.JupyterHub.spawner_class == "studio_hub.docker.SandboxedDockerSpawner"
    assert c.JupyterHub.hub_connect_url == "http://172.30.0.1:8081"
    d = c.SandboxedDockerSpawner
    assert d.runtime == "runsc" and d.image == "studio-learner:latest" and d.network_name == "studio-learners"
    assert d.read_only_volumes == {str(settings.content_dir): "/srv/content"}
    assert config.apply_config(Config(), settings).JupyterHub.spawner_class == "studio_hub.spawner.LearnerSpawner"


def test_bad_cull_timeout_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="STUDIO_CULL_TIMEOUT must be a whole number"):
        Settings.from_env({"STUDIO_HUB_DATA_DIR": str(tmp_path / "hub"), "STUDIO_CULL_TIMEOUT": "1h"}, root=tmp_path)


def test_compose_settings_take_secrets_database_and_proxy_from_the_environment(tmp_path):
    env = {
        "STUDIO_HUB_DATA_DIR": str(tmp_path / "hub"),
        "STUDIO_HUB_OAUTH_CLIENT_SECRET": "from-env",
        "JUPYTERHUB_CRYPT_KEY": "cd" * 32,
        "CONFIGPROXY_AUTH_TOKEN": "proxy-from-env",
        "STUDIO_HUB_DB_URL": "postgresql+psycopg://hub:pw@127.0.0.1:5433/hub",
        "STUDIO_PROXY_EXTERNAL": "1",
        "STUDIO_SPAWNER": "docker",
        "STUDIO_DOCKER_MOUNT_CONTENT": "0",
    }
    s = Settings.from_env(env, root=tmp_path)
    assert (s.oauth_client_secret, s.crypt_key, s.proxy_auth_token) == ("from-env", "cd" * 32, "proxy-from-env")
    assert not any((tmp_path / "hub" / name).exists() for name in ("oauth_client_secret", "crypt_key"))
    assert "pw" not in repr(s)  # the database URL carries a password: never in logs
    c = config.apply_config(Config(), s)
    assert c.JupyterHub.db_url == env["STUDIO_HUB_DB_URL"]
    assert c.ConfigurableHTTPProxy.should_start is False and c.ConfigurableHTTPProxy.auth_token == "proxy-from-env"
    assert c.SandboxedDockerSpawner.read_only_volumes == {}  # the learner image's own /srv/content
    default = config.apply_config(Config(), Settings.from_env({"STUDIO_HUB_DATA_DIR": env["STUDIO_HUB_DATA_DIR"]}))
    assert default.JupyterHub.db_url.startswith("sqlite:///") and default.ConfigurableHTTPProxy.should_start


def test_bad_flag_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="STUDIO_PROXY_EXTERNAL must be 1 or 0"):
        Settings.from_env({"STUDIO_HUB_DATA_DIR": str(tmp_path / "hub"), "STUDIO_PROXY_EXTERNAL": "maybe"})


def test_hints_is_a_hub_managed_service_with_its_state_in_redis_when_set(settings):
    from dataclasses import replace

    settings = replace(settings, grades_token="grades-token-1", events_token="services-token-1")
    c = config.apply_config(
        Config(),
        replace(settings, hints_port=9185, hints_provider="ladder", hints_state_url="redis://:pw@127.0.0.1:6380/2"),
    )
    (hints,) = [s for s in c.JupyterHub.services if s["name"] == "hints"]
    assert hints["url"] == "http://127.0.0.1:9185" and not hints["display"]
    cmd = hints["command"]
    assert cmd[1:3] == ["-m", "studio_hub.hints"]
    assert cmd[cmd.index("--provider") + 1] == "ladder"
    # The source as released to the grading service first, then the course content's.
    dirs = [cmd[i + 1] for i, x in enumerate(cmd) if x == "--source-dir"]
    assert dirs == [str(settings.data_dir.parent / "grading"), str(settings.content_dir)]
    assert "pw" not in " ".join(cmd), "the Redis password is not on the command line (ps shows it)"
    assert hints["environment"]["STUDIO_HINTS_STATE_URL"] == "redis://:pw@127.0.0.1:6380/2"
    # The learning-event queue goes to the portal, with the services' token in the environment, not in argv.
    assert cmd[cmd.index("--portal-url") + 1] == settings.portal_backend_url
    assert hints["environment"]["STUDIO_EVENTS_TOKEN"] == "services-token-1"
    assert "services-token-1" not in " ".join(cmd)
    # One token per purpose: the hints service (it parses learners' input) never holds the one that writes grades.
    assert "grades-token-1" not in repr(hints)
    assert c.Spawner.environment["STUDIO_HINTS_URL"] == "http://127.0.0.1:9185/services/hints/"
    assert "access:services!service=hints" in c.Spawner.server_token_scopes
    off = config.apply_config(Config(), replace(settings, hints=False))
    assert "hints" not in {s["name"] for s in off.JupyterHub.services}
    assert "STUDIO_HINTS_URL" not in off.Spawner.environment


def test_each_learner_and_service_is_served_from_an_origin_of_its_own(settings):
    from dataclasses import replace

    from studio_hub.origins import label_of, subdomain_hook

    c = config.apply_config(Config(), settings)
    assert c.JupyterHub.subdomain_host == "https://hub.example.org"
    assert c.JupyterHub.public_url == "https://hub.example.org/"
    assert c.JupyterHub.subdomain_hook("student1", "hub.example.org", "user") == "student1.hub.example.org"
    assert subdomain_hook("grading", "localhost", "service") == "grading--service.localhost"
    local = config.apply_config(Config(), replace(settings, public_url="http://localhost:8000"))
    assert local.JupyterHub.subdomain_host == "http://localhost:8000"
    assert local.JupyterHub.bind_url == "http://127.0.0.1:8000"  # not ::1, where a resolver may put localhost
    with pytest.raises(ValueError, match="must name a host"):
        config.apply_config(Config(), replace(settings, public_url="http://127.0.0.1:8000"))
    # Host names are compared without case, so labels must be too: "Casey" is not casey's origin, nor is a name
    # chosen to look like another's escaped label, nor a user named like a service.
    names = ["casey", "Casey", "CASEY", "casey-u--x", label_of("Casey"), "grading--service", "a.b", "ä", "xn--a", ""]
    labels = [label_of(n).lower() for n in names]
    assert len(set(labels)) == len(names), dict(zip(names, labels, strict=True))
    for label in labels:
        assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label) and label[2:4] != "--", label
        assert not label.endswith("--service")

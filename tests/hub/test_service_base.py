"""One shape for the hub-managed services (studio_hub.service): the command lines the hub writes from its Settings
become each service's traitlets; the handler base knows callers by their token and answers errors as JSON; the
service stops on SIGTERM and closes what it holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from jupyterhub.services.auth import HubAuth
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets.config import Config

from studio_hub import config
from studio_hub.service import ApiHandler, HealthHandler, RequestError, ServiceApp
from studio_hub.settings import Settings


def hub_command(settings: Settings, name: str) -> list[str]:
    c = config.apply_config(Config(), replace(settings, hints_config=""))
    (service,) = [s for s in c.JupyterHub.services if s["name"] == name]
    return service["command"][3:]  # after python -m <module>


def test_the_hubs_command_lines_set_each_services_traitlets(settings, tmp_path):
    from studio_grader.service.app import GradingService

    from studio_hub.exchange.app import ExchangeService
    from studio_hub.hints.app import HintsService

    exchange = ExchangeService()
    exchange.initialize(hub_command(settings, "exchange"))
    assert exchange.data_dir == str(settings.data_dir / "exchange") and exchange.trust_service == ["grading"]
    assert exchange.notify_url.endswith("/services/grading/") and exchange.max_body_mib == 41

    grading = GradingService()
    grading.initialize([*hub_command(settings, "grading"), "--no-warm", "--workers", "2"])
    assert grading.data_dir == str(settings.course_folders) and grading.image == settings.learner_image
    assert grading.runtime == settings.docker_runtime and grading.rescan == settings.grading_rescan
    assert grading.workers == 2 and grading.warm is False and grading.max_body_mib == 64

    hints = HintsService()
    hints.initialize(hub_command(settings, "hints"))
    assert hints.source_dirs == [str(settings.course_folders), str(settings.content_dir)]
    assert hints.provider == settings.hints_provider

    # A config file, and the command line winning over it.
    file = tmp_path / "exchange_config.py"
    file.write_text("c.ExchangeService.max_mib = 5.0\nc.ExchangeService.student_mib = 50.0\n")
    exchange = ExchangeService()
    exchange.initialize(["--data-dir", str(tmp_path), "--config", str(file), "--student-mib", "70"])
    assert (exchange.max_mib, exchange.student_mib) == (5.0, 70.0)


def test_what_the_hub_puts_in_the_environment_reaches_the_services_traitlets(settings, tmp_path):
    """The hub gives each service its secrets and URLs in the environment (config.py); ServiceApp reads them, by
    each class's table, and the command line still wins."""
    from studio_grader.service.app import GradingService

    from studio_hub.hints.app import HintsService
    from studio_hub.hints.llm import LLMProvider

    settings = replace(settings, gradebook_url="postgresql+psycopg://hub:pw@db/grading", events_token="events-secret")
    c = config.apply_config(Config(), replace(settings, hints_config=""))
    services = {s["name"]: s for s in c.JupyterHub.services}
    hub_env = {"JUPYTERHUB_API_TOKEN": "service-token", "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:9999"}

    grading = GradingService()
    environ = {**hub_env, **services["grading"]["environment"]}
    grading.initialize([*hub_command(settings, "grading"), "--no-warm"], environ)
    assert grading.grades_token == settings.grades_token and grading.api_token == "service-token"
    assert grading.gradebook_url == settings.gradebook_url and grading.url == "http://127.0.0.1:9999"

    hints = HintsService()
    key_file = tmp_path / "llm-key"
    key_file.write_text("sk-from-file\n")
    environ = {
        **hub_env,
        **services["hints"]["environment"],
        "STUDIO_LLM_API_KEY_FILE": str(key_file),
        "STUDIO_LLM_API_KEY": "sk-from-env",
    }
    hints.initialize(hub_command(replace(settings, hints_provider="llm"), "hints"), environ)
    assert hints.events_token == "events-secret"
    assert isinstance(hints.hinter, LLMProvider)
    assert (hints.hinter.api_key_file, hints.hinter.api_key) == (str(key_file), "sk-from-env")
    assert hints.hinter._key() == "sk-from-file"  # the file wins over the variable

    # Nothing in the environment: the defaults; and the command line wins over the environment.
    grading = GradingService()
    grading.initialize(["--data-dir", str(tmp_path), "--GradingService.grades_token=from-argv"], hub_env)
    assert grading.grades_token == "from-argv" and grading.gradebook_url == ""


def test_no_service_module_reads_the_environment_itself():
    """ServiceApp.config_from_environment is the one place: a service's options are traitlets, set from there."""
    import studio_grader.service

    import studio_hub.exchange
    import studio_hub.hints
    import studio_hub.service

    readers = []
    for package in (studio_hub.service, studio_hub.exchange, studio_hub.hints, studio_grader.service):
        for path in Path(package.__file__).parent.glob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if ("os.environ" in line or "getenv(" in line) and "config_from_environment" not in line:
                    readers.append(f"{path.name}:{number}: {line.strip()}")
    assert not readers, readers


class Tokens(HubAuth):
    async def user_for_token(self, token, sync=True, **kwargs):
        if token == "ada-token":
            return {"kind": "user", "name": "ada", "groups": ["students-c"], "scopes": ["access"]}
        return None

    def check_scopes(self, required, model):
        return {"access"}


class EchoHandler(ApiHandler):
    def post(self):
        data = self.body()
        if "n" not in data:
            raise RequestError("send n", 422, {"X-Why": "n"})
        self.finish({"user": self.user["name"], "n": data["n"]})


class Tiny(ServiceApp):
    name = "tiny"
    title = "tiny service"
    closed = False

    def routes(self):
        return [("api/health", HealthHandler), ("api/echo", EchoHandler)]

    def health(self):
        return {"tiny": True}

    async def close(self):
        Tiny.closed = True


def test_the_handler_base_and_one_start_stop_path(unused_port):
    async def scenario():
        app = Tiny()
        app.initialize([f"--Tiny.url=http://127.0.0.1:{unused_port}", "--Tiny.prefix=/services/tiny/"])
        app.hub_auth = Tokens()
        serving = asyncio.ensure_future(app.serve())
        base = f"http://127.0.0.1:{unused_port}/services/tiny/api/"
        client = AsyncHTTPClient()
        for _ in range(50):
            try:
                health = await client.fetch(base + "health")
                break
            except (ConnectionError, OSError):
                await asyncio.sleep(0.05)
        assert json.loads(health.body) == {"ok": True, "tiny": True}  # no token needed there

        async def post(body: bytes, token: str | None):
            headers = {"Authorization": f"token {token}"} if token else {}
            try:
                resp = await client.fetch(base + "echo", method="POST", body=body, headers=headers)
            except HTTPClientError as e:
                resp = e.response
            return resp.code, json.loads(resp.body), resp.headers

        assert (await post(b'{"n": 3}', "ada-token"))[:2] == (200, {"user": "ada", "n": 3})
        code, body, _ = await post(b'{"n": 3}', None)
        assert code == 401 and "JupyterHub token" in body["message"]
        assert (await post(b'{"n": 3}', "stolen"))[0] == 403
        code, body, headers = await post(b"[1]", "ada-token")
        assert (code, body["message"]) == (400, "the body must be a JSON object")
        code, body, headers = await post(b"{}", "ada-token")
        assert (code, body, headers["X-Why"]) == (422, {"status": 422, "message": "send n"}, "n")
        os.kill(os.getpid(), signal.SIGTERM)  # as the hub stops its services
        await asyncio.wait_for(serving, 5)
        assert Tiny.closed

    asyncio.run(scenario())


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_service_module_runs_with_python_m():
    import subprocess
    import sys

    for module in ("studio_hub.exchange", "studio_hub.hints", "studio_grader.service"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "--data-dir" in done.stdout, (module, done.stderr[-2000:])

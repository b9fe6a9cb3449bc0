"""One start and stop path for a hub-managed service.

JupyterHub starts each of its managed services with ``JUPYTERHUB_SERVICE_URL`` (where to listen),
``JUPYTERHUB_SERVICE_PREFIX`` (its path on the proxy) and ``JUPYTERHUB_API_TOKEN`` in the environment, and stops it
with SIGINT or SIGTERM. Every option is a traitlet with help, set by the hub's command line (``--Class.trait=value``,
fed from ``Settings``) or a config file (``--config FILE``); secrets come in the environment, which only
:meth:`ServiceApp.config_from_environment` reads, by each class's ``environment`` table (the command line and the
config file win over it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import enable_pretty_logging
from traitlets import Float, Integer, Unicode, default
from traitlets.config import Application, Config


class ServiceApp(Application):
    """A hub-managed service: subclasses give ``routes()`` (and ``handler_args()``), and may run background work in
    ``run()`` while the server listens; ``close()`` is called once as the service stops."""

    default_port = 8080  # where it listens when the hub did not say (a service run by hand)
    default_prefix = "/services/service/"
    logger = "studio.service"  # the name of its log
    title = "service"  # what people call it, in error messages ("this token may not use the <title>")
    hub_auth_class: type[HubAuth] = HubAuth  # HubOAuth for a service with pages people open in a browser

    config_file = Unicode("", config=True, help="A Python config file to load (traitlets: c.Class.trait = value).")
    url = Unicode(config=True, help="Where it listens. Default: $JUPYTERHUB_SERVICE_URL, which the hub sets.")
    prefix = Unicode(config=True, help="Its URL path on the proxy. Default: $JUPYTERHUB_SERVICE_PREFIX.")
    api_token = Unicode(config=True, help="Its own JupyterHub API token. Default: $JUPYTERHUB_API_TOKEN.")
    max_body_mib = Float(1.0, config=True, help="The largest request body it reads, MiB.")
    auth_cache_seconds = Integer(
        5,
        config=True,
        help="Seconds the hub's answer about a token (who, which groups) is kept. Groups change when the portal "
        "changes a role; the hub re-reads them within seconds, so must a service.",
    )

    aliases = {"config": "ServiceApp.config_file"}
    # Environment variables read as options: name → "trait" (of this app) or "Class.trait". A subclass extends it.
    environment = {
        "JUPYTERHUB_SERVICE_URL": "url",
        "JUPYTERHUB_SERVICE_PREFIX": "prefix",
        "JUPYTERHUB_API_TOKEN": "api_token",
    }

    @default("url")
    def _url_default(self) -> str:
        return f"http://127.0.0.1:{self.default_port}"

    @default("prefix")
    def _prefix_default(self) -> str:
        return self.default_prefix

    _hub_auth: HubAuth | None = None

    @property
    def hub_auth(self) -> HubAuth:
        """Asks the hub who a token belongs to (cached ``auth_cache_seconds``)."""
        if self._hub_auth is None:
            self._hub_auth = self.hub_auth_class(api_token=self.api_token, cache_max_age=self.auth_cache_seconds)
        return self._hub_auth

    @hub_auth.setter
    def hub_auth(self, value: HubAuth) -> None:
        self._hub_auth = value

    @property
    def logs(self) -> logging.Logger:
        return logging.getLogger(self.logger)

    def health(self) -> dict:
        """What ``GET api/health`` says besides ``"ok": true``."""
        return {}

    @classmethod
    def config_from_environment(cls, environ: Mapping[str, str]) -> Config:
        """The options ``environ`` sets, by ``environment``: the only place a service reads its environment."""
        config = Config()
        for variable, option in cls.environment.items():
            if variable in environ:
                section, _, trait = option.rpartition(".")
                config[section or cls.__name__][trait] = environ[variable]
        return config

    def initialize(self, argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.update_config(self.config_from_environment(os.environ if environ is None else environ))
        self.parse_command_line(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            self.parse_command_line(argv)  # the command line wins over the file

    # --- what a service gives ---------------------------------------------------------------------------------------
    def routes(self) -> list[tuple]:
        """``(path, handler)``, whose ``initialize`` gets ``handler_args()``, or ``(path, handler, kwargs)``, which
        gets ``kwargs`` only; paths relative to ``prefix``."""
        raise NotImplementedError

    def handler_args(self) -> dict:
        """What every handler's ``initialize`` gets (``ApiHandler`` takes ``app``)."""
        return {"app": self}

    async def setup(self) -> None:
        """Made in the service's event loop, before it listens (what needs the loop)."""

    def web_settings(self) -> dict:
        """Tornado application settings beyond the routes."""
        return {}

    async def run(self) -> None:
        """Background work while the server listens (default: none)."""
        await asyncio.Event().wait()

    async def close(self) -> None:
        """Called once as the service stops."""

    # --- one way to start and stop ----------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        args = self.handler_args()
        handlers = []
        for route in self.routes():
            path, handler, *kwargs = route
            handlers.append((url_path_join(self.prefix, path), handler, kwargs[0] if kwargs else args))
        return web.Application(handlers, **self.web_settings())

    def listen(self) -> HTTPServer:
        server = HTTPServer(self.make_app(), max_body_size=int(self.max_body_mib * 2**20), xheaders=True)
        bind = urlparse(self.url)
        server.listen(bind.port or 80, bind.hostname or "")
        return server

    async def serve(self) -> None:
        await self.setup()
        server = self.listen()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # the hub stops its services with SIGINT (or SIGTERM)
            loop.add_signal_handler(sig, stop.set)
        self.logs.info("%s listening on %s%s", self.name, self.url, self.prefix)
        work = asyncio.ensure_future(self.run())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
            if work.done() and work.exception():
                raise work.exception()
        finally:
            server.stop()
            for task in (work, stopped):
                task.cancel()
            await self.close()
            self.logs.info("%s stopped", self.name)

    def start(self) -> None:
        enable_pretty_logging()
        logging.getLogger().setLevel(logging.INFO)
        asyncio.run(self.serve())

    @classmethod
    def launch(cls, argv: list[str] | None = None) -> None:
        """``python -m`` entry point: configure from ``argv``, serve until stopped."""
        app = cls()
        app.initialize(argv)
        app.start()

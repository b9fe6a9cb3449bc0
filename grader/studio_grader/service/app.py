"""The grading service, run by the hub (``python -m studio_grader.service``): every submission graded as it arrives.

The exchange tells it of each new submission; it also looks for ungraded ones on its own every ``rescan`` seconds
(at start too), so nothing is missed while it was down. Jobs run in worker processes, each with a warm grading
sandbox (:mod:`.queue`); each course has an nbgrader course folder and gradebook on this side
(:mod:`studio_grader.courses`), which its graders and instructors review in formgrader, served here per course
(:mod:`.formgrader_proxy`). Its API: :mod:`.handlers`.

Options are traitlets (``--GradingService.option=value``, the short forms below, or ``--config FILE``); the hub sets
them from its ``Settings`` (``studio_hub.config.update_services``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from traitlets import Bool, Enum, Float, Integer, Unicode

from studio_hub.service import ServiceApp

from .. import jobs
from ..courses import Sandboxes
from ..formgrader import Formgraders
from ..sandbox import ENGINES, SandboxError, choose_engine, describe_engine, engine_problem
from .clients import ExchangeClient, PortalGrades
from .formgrader_proxy import FormgraderExchangeHandler, FormgraderProxy, IndexHandler
from .handlers import (
    AutotestsHandler,
    ExecuteHandler,
    GradesHandler,
    HealthHandler,
    ProgressHandler,
    RegradeHandler,
    SourceHandler,
    SubmittedHandler,
)
from .queue import Grading

log = logging.getLogger("studio.grading")


class GradingService(ServiceApp):
    name = "studio-grading"
    description = "Every submission autograded in gVisor sandboxes as it arrives; formgrader per course."
    default_port = 8084
    default_prefix = "/services/grading/"
    logger = "studio.grading"
    title = "grading service"
    hub_auth_class = HubOAuth  # formgrader and the course list are pages people open in a browser
    max_body_mib = Float(64.0, config=True, help="The largest request body it reads, MiB (a notebook to run).")

    data_dir = Unicode("", config=True, help="The courses' grading folders (required).")
    content_dir = Unicode("", config=True, help="The course repository (<course>/source/<assignment>).")
    gradebook_url = Unicode(
        "",
        config=True,
        help="PostgreSQL for the gradebooks (a schema per course); empty: SQLite per course. Default: "
        "$STUDIO_GRADEBOOK_URL, which the hub sets.",
    )
    exchange_url = Unicode("", config=True, help="The exchange service, asked for ungraded submissions.")
    workers = Integer(
        0, config=True, help="Submissions graded at once (worker processes); 0: the number of cores plus one."
    )
    image = Unicode("studio-learner:latest", config=True, help="The grading sandboxes' image.")
    runtime = Unicode("runsc", config=True, help="The grading sandboxes' Docker runtime (gVisor).")
    sandbox_prefix = Unicode("studio-grade", config=True, help="The sandboxes' container names start with it.")
    engine = Enum(
        ("auto", *ENGINES),
        "auto",
        config=True,
        help="What runs the grading sandboxes: 'docker' (gVisor containers of image), 'runsc' (gVisor on this "
        "machine's system, no Docker; root), 'bwrap' (bubblewrap on this machine, no Docker; root), or 'auto': Docker "
        "when it has the runtime and the image, else runsc where it is installed, else bubblewrap.",
    )
    mode = Enum(
        ("pooled", "strict"),
        "pooled",
        config=True,
        help="pooled: each worker's sandbox grades one submission after another, each job under a uid of its own; "
        "strict: a fresh sandbox for every submission.",
    )
    cell_timeout = Integer(30, config=True, help="Seconds a cell may run at most (the calibrated limits' ceiling).")
    job_timeout = Float(900.0, config=True, help="Seconds one submission may take in all.")
    rescan = Float(60.0, config=True, help="Seconds between looks for ungraded submissions.")
    portal_url = Unicode("", config=True, help="The portal, sent every grade (with grades_token).")
    grades_token = Unicode(
        "",
        config=True,
        help="The portal's token for grades only. Default: $STUDIO_GRADES_TOKEN, which the hub sets.",
    )
    warm = Bool(True, config=True, help="Start each worker's sandbox before a job needs it.")
    publish = Bool(
        False,
        config=True,
        help="At start, release every assignment of the course repository (content_dir/<course>/source) never "
        "released from here, due a week apart, as its instructor would with nbgrader: the demo's courses.",
    )
    formgrader_idle = Float(3600.0, config=True, help="Seconds a course's formgrader may go unused before it stops.")
    moved_from = Unicode(
        "",
        config=True,
        help="Where the course folders were kept before: moved from there to data_dir at start, when data_dir holds "
        "none yet.",
    )
    formgrader_account_prefix = Unicode(
        "studio-fg-",
        config=True,
        help="The Unix accounts formgraders run under (one per course) are named so, then a digest of the course id.",
    )

    aliases = {
        **ServiceApp.aliases,
        **{
            name.replace("_", "-"): f"GradingService.{name}"
            for name in (
                "data_dir",
                "content_dir",
                "gradebook_url",
                "exchange_url",
                "workers",
                "image",
                "runtime",
                "engine",
                "sandbox_prefix",
                "mode",
                "cell_timeout",
                "job_timeout",
                "rescan",
                "portal_url",
                "formgrader_idle",
                "moved_from",
                "formgrader_account_prefix",
            )
        },
    }
    flags = {
        "no-warm": ({"GradingService": {"warm": False}}, "Start sandboxes only when a job needs one."),
        "publish": ({"GradingService": {"publish": True}}, "Release the course repository's assignments at start."),
    }

    environment = {
        **ServiceApp.environment,
        "STUDIO_GRADEBOOK_URL": "gradebook_url",
        "STUDIO_GRADES_TOKEN": "grades_token",
    }

    def initialize(self, argv: list[str] | None = None, environ=None) -> None:
        super().initialize(argv, environ)
        if not self.data_dir:
            raise SystemExit("the grading service needs its folder of course folders: --data-dir")

    async def setup(self) -> None:
        folders = Path(self.data_dir)
        course_folders(folders, Path(self.moved_from) if self.moved_from else None)
        jobs.own_bin_first()  # for the formgraders, which open gradebooks too
        portal = None
        if self.portal_url and self.grades_token:
            portal = PortalGrades(self.portal_url, self.grades_token, folders / ".outbox" / "portal.sqlite")
        engine = self.engine
        if engine == "auto":
            try:
                engine, why = choose_engine(self.image, self.runtime)
            except SandboxError as e:
                engine, why = "bwrap", str(e)
            if why:
                log.info("grading: no Docker sandbox (%s): %s on this machine instead", why, engine)
        if engine_problem(engine):
            # The service stays up (formgrader, manual grading, the grades it has): every submission it cannot grade
            # is marked failed with this reason, where graders and the student see it.
            log.error("grading: submissions cannot be autograded here: %s", engine_problem(engine))
        else:
            log.info("grading: %s", describe_engine(engine, self.image, self.runtime))
        sandboxes = Sandboxes(
            image=self.image,
            runtime=self.runtime,
            engine=engine,
            mode=self.mode,
            timeout=self.cell_timeout,
            prefix=self.sandbox_prefix,
        )
        self.grading = Grading(
            folders,
            content_dir=Path(self.content_dir) if self.content_dir else None,
            gradebook=self.gradebook_url,
            exchange_url=self.exchange_url,
            exchange_token=self.api_token,
            sandboxes=sandboxes,
            workers=self.workers or (os.cpu_count() or 2) + 1,
            job_timeout=self.job_timeout,
            warm=self.warm,
            portal=portal,
            account_prefix=self.formgrader_account_prefix,
        )
        self.formgraders = Formgraders(self.prefix, service_url=url_path_join(self.url, self.prefix))

    def routes(self) -> list[tuple]:
        part = r"([^/]+)"
        return [
            ("api/health", HealthHandler),
            ("api/submitted", SubmittedHandler),
            (f"api/source/{part}/{part}", SourceHandler),
            ("api/grades", GradesHandler),
            ("api/progress", ProgressHandler),
            (f"api/regrade/{part}/{part}", RegradeHandler),
            (f"api/execute/{part}", ExecuteHandler),
            (f"api/autotests/{part}", AutotestsHandler),
            (f"formgrader/{part}/(.*)", FormgraderProxy),
            (f"formgrader-exchange/{part}/(.*)", FormgraderExchangeHandler),
            ("oauth_callback", HubOAuthCallbackHandler, {}),
            ("", IndexHandler),
        ]

    def handler_args(self) -> dict:
        return {"grading": self.grading, "formgraders": self.formgraders}

    def web_settings(self) -> dict:
        return {
            "hub_auth": self.hub_auth,
            "prefix": self.prefix,
            "cookie_secret": os.urandom(32),
            "service_token": self.api_token,
            "login_url": self.hub_auth.login_url,
        }

    async def run(self) -> None:
        log.info("grading: %d workers, courses in %s", self.grading.workers, self.data_dir)
        exchange = ExchangeClient(self.exchange_url, self.api_token)
        if self.grading.portal is not None:
            sending = asyncio.ensure_future(self.grading.portal.outbox.run())
            sending.add_done_callback(
                lambda t: t.cancelled() or log.error("the portal's sender ended: %r", t.exception())
            )
        if self.publish and self.exchange_url:
            try:
                published = await self.grading.publish(exchange)
            except Exception:  # noqa: BLE001 -- grading goes on; the log says why nothing was published
                log.exception("grading: the course repository's assignments were not published")
            else:
                log.info("grading: published %d assignments from the course repository", len(published))
        while True:
            if self.exchange_url:
                queued = await self.grading.catch_up(exchange)
                if queued:
                    log.info("queued %d submissions not graded yet", queued)
            self.grading.kick()
            await asyncio.sleep(self.rescan)
            changed = await self.grading.refresh_scores()
            if changed:
                log.info("%d scores changed in the gradebooks (manual grading)", changed)
            self.formgraders.stop_idle(self.formgrader_idle)

    async def close(self) -> None:
        self.formgraders.stop()
        self.grading.close()
        if self.grading.portal is not None:
            self.grading.portal.outbox.close()


def course_folders(folders: Path, moved_from: Path | None) -> None:
    """Make the folder of the course folders (each course account enters its own there, by name, and lists nothing);
    course folders kept before at ``moved_from`` are moved there whole, if it holds none yet."""
    if moved_from and moved_from.is_dir() and not (folders.is_dir() and any(folders.iterdir())):
        folders.parent.mkdir(parents=True, exist_ok=True)
        if folders.is_dir():
            folders.rmdir()
        shutil.move(moved_from, folders)
        log.info("course folders moved from %s to %s", moved_from, folders)
    folders.mkdir(parents=True, exist_ok=True)
    os.chmod(folders, 0o711)


main = GradingService.launch

"""The exchange service: nbgrader's exchange over HTTP, run by the hub (``python -m studio_hub.exchange``).

Options are traitlets (``--ExchangeService.option=value``, the short forms below, or ``--config FILE``); the hub
sets them from its ``Settings`` (``studio_hub.config.update_services``). The API: :mod:`.handlers`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from traitlets import Float, List, Unicode

from ..service import ServiceApp
from .handlers import ROUTES
from .notify import Notifier
from .portal import PortalRecords
from .store import ExchangeStore, Limits


class ExchangeService(ServiceApp):
    name = "exchange"
    description = "nbgrader's exchange over HTTP: releases, submissions and feedback, by course and role."
    default_port = 8083
    default_prefix = "/services/exchange/"
    logger = "studio.exchange"
    title = "exchange"

    data_dir = Unicode("", config=True, help="Where releases, submissions and feedback are kept (required).")
    max_mib = Float(20.0, config=True, help="The largest release, submission or feedback, MiB.")
    student_mib = Float(200.0, config=True, help="All of one student's submissions in a course together, MiB.")
    trust_service = List(
        Unicode(),
        config=True,
        help="Hub services that may release, collect and return feedback in every course (the grading service, "
        "for formgrader).",
    )
    notify_url = Unicode("", config=True, help="The grading service, told of every new submission.")
    portal_url = Unicode("", config=True, help="The portal, told of each release and each student's work on it.")
    portal_token = Unicode(
        "", config=True, help="The portal's token for course records (its grades token). Default: $STUDIO_GRADES_TOKEN."
    )

    aliases = {
        **ServiceApp.aliases,
        "data-dir": "ExchangeService.data_dir",
        "max-mib": "ExchangeService.max_mib",
        "student-mib": "ExchangeService.student_mib",
        "trust-service": "ExchangeService.trust_service",
        "notify-url": "ExchangeService.notify_url",
        "portal-url": "ExchangeService.portal_url",
    }
    environment = {**ServiceApp.environment, "STUDIO_GRADES_TOKEN": "portal_token"}

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if not self.data_dir:
            raise SystemExit("the exchange needs its data folder: --data-dir")
        self.limits = Limits(max_bytes=int(self.max_mib * 2**20), max_student_bytes=int(self.student_mib * 2**20))
        self.store = ExchangeStore(Path(self.data_dir), self.limits)
        # base64 adds a third: bodies up to twice the limit reach the handler, which says what the limit is.
        self.max_body_mib = 2 * self.max_mib + 1
        self.notifier = None
        if self.notify_url:
            self.notifier = Notifier(
                self.notify_url, self.api_token, Path(self.data_dir) / ".outbox" / "grading.sqlite"
            )
        self.portal = None
        if self.portal_url and self.portal_token:
            outbox = Path(self.data_dir) / ".outbox" / "portal.sqlite"
            self.portal = PortalRecords(self.portal_url, self.portal_token, outbox, self.store)
            self.logs.info("exchange: %d records for the portal", self.portal.catch_up())
        self.logs.info("exchange keeping files in %s", self.data_dir)

    async def run(self) -> None:
        senders = [s.outbox.run() for s in (self.notifier, self.portal) if s is not None]
        if senders:
            await asyncio.gather(*senders)
        else:
            await super().run()

    async def close(self) -> None:
        for sender in (self.notifier, self.portal):
            if sender is not None:
                sender.outbox.close()

    def routes(self) -> list[tuple]:
        return ROUTES


main = ExchangeService.launch

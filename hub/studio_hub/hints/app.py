"""The hints service, run by the hub as a managed service (``python -m studio_hub.hints``): next-step hints for
students' exercises, and the queue of learning events for the portal. Its API: :mod:`.handlers`.

Configuration is traitlets (``--config FILE``, or ``--HintsService.option=value``): see ``HintsService``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import tomllib
from pathlib import Path

from studio_wire.events import FROM_LEARNER, problem
from traitlets import Bool, Float, Int, List, TraitError, Type, Unicode, validate
from traitlets.utils.importstring import import_item

from ..exchange.policy import STUDENT, TEAM, courses_of, roles_in
from ..exchange.store import ExchangeError
from ..service import RequestError, ServiceApp
from .exercises import SAFE_ID, Exercise, ExerciseIndex
from .forward import EventForwarder
from .guard import Guard
from .providers import HintProvider, HintRequest, TutorProvider
from .state import State, make_state
from .tutor import Attempt

log = logging.getLogger("studio.hints")
LIMITS = {"code": 20_000, "evalue": 2_000, "traceback": 20_000, "test": 20_000, "got": 500}
PROVIDERS = {
    "ladder": "studio_hub.hints.providers.LadderProvider",
    "tutor": "studio_hub.hints.providers.TutorProvider",
    "llm": "studio_hub.hints.llm.LLMProvider",
}


class HintsService(ServiceApp):
    name = "studio-hints"
    description = "Next-step hints for students' exercises, and learning events for the portal."
    default_port = 8085
    default_prefix = "/services/hints/"
    logger = "studio.hints"
    title = "hints service"

    source_dirs = List(
        Unicode(),
        config=True,
        help="Where the courses' source is (solutions, hint ladders): "
        "<dir>/<course>/source/<assignment>/*.ipynb, the first that has an assignment wins (required). "
        "Example: c.HintsService.source_dirs = ['/srv/hub/data/grading', "
        "'/srv/content']",
    )
    data_dir = Unicode(
        "",
        config=True,
        help="Where the embedded default keeps events and the hint log "
        "(hints.sqlite). Example: c.HintsService.data_dir = '/srv/hub/data/hints'",
    )
    state_url = Unicode(
        "",
        config=True,
        help="Redis for rate limits, ladder positions, the cache, the event "
        "stream and the hint log (redis://[:password@]host:port/db); empty (default): this process "
        "and a SQLite file in data_dir. Example: c.HintsService.state_url = 'redis://127.0.0.1:6379/2'",
    )
    provider = Unicode(
        "tutor",
        config=True,
        help="ladder, tutor (default) or llm; provider_class, when set, "
        "wins. Example: c.HintsService.provider = 'ladder'",
    )
    provider_class = Type(
        default_value=TutorProvider,
        klass=HintProvider,
        config=True,
        help="Where hints come from: studio_hub.hints.providers.LadderProvider (the instructor's "
        "hints), ...TutorProvider (default: explains the student's error, failing test and "
        "mistakes; no model needed) or studio_hub.hints.llm.LLMProvider. Example: "
        "c.HintsService.provider_class = 'studio_hub.hints.providers.LadderProvider'",
    )
    provider_timeout = Float(
        20.0,
        config=True,
        help="Seconds a provider may take before the tutor answers "
        "instead (default 20). Example: c.HintsService.provider_timeout = 10",
    )
    rate_limit = Int(
        10,
        config=True,
        help="Hints one student may get on one exercise per rate_window "
        "(default 10). Example: c.HintsService.rate_limit = 5",
    )
    rate_window = Float(300.0, config=True, help="The rate limit's window in seconds (default 300).")
    events_per_minute = Int(
        600,
        config=True,
        help="Learning events one student's server may report per minute (default 600; a cell run is one); past "
        "it, the batch is refused with 429 and nothing of it is kept. Example: c.HintsService.events_per_minute = 300",
    )
    unlock_attempts = Int(
        1,
        config=True,
        help="A more specific hint unlocks after this many new tries (runs of "
        "the cell, or changed code) since the last hint (default 1)...",
    )
    unlock_seconds = Float(
        60.0,
        config=True,
        help="... or after this many seconds (default 60). Example: c.HintsService.unlock_seconds = 120",
    )
    cache_seconds = Float(
        3600.0,
        config=True,
        help="Identical requests (same exercise, rung, code and error) "
        "get the same hint for this many seconds without asking the provider (default 3600).",
    )
    max_code_lines = Int(3, config=True, help="A hint with a longer code block is withheld (default 3).")
    max_overlap = Float(
        0.5,
        config=True,
        help="A hint whose code covers this share of the solution's code "
        "(token trigrams beyond the starter code) or more is withheld (default 0.5).",
    )
    event_readers = List(
        Unicode(),
        config=True,
        help="Services that may read the event queue besides hub "
        "admins (the portal's token). Example: c.HintsService.event_readers = ['portal']",
    )
    store_code = Bool(
        False,
        config=True,
        help="Keep students' code in events for every course (default: only "
        "for courses whose course.toml sets [hints] store_code = true; otherwise events carry a hash).",
    )
    portal_url = Unicode(
        "",
        config=True,
        help="The portal, sent the learning-event queue for its analytics (PUT <portal>/api/events/ with "
        "$STUDIO_EVENTS_TOKEN, a token for events only). Empty: events stay in the queue. "
        "Example: c.HintsService.portal_url = 'http://127.0.0.1:8001'",
    )
    events_token = Unicode(
        "",
        config=True,
        help="The portal's token for learning events only (never grades). Default: $STUDIO_EVENTS_TOKEN, which the "
        "hub sets.",
    )

    aliases = {
        **ServiceApp.aliases,
        "source-dir": "HintsService.source_dirs",
        "data-dir": "HintsService.data_dir",
        "provider": "HintsService.provider",
        "portal-url": "HintsService.portal_url",
    }

    environment = {
        **ServiceApp.environment,
        "STUDIO_EVENTS_TOKEN": "events_token",
        "STUDIO_HINTS_STATE_URL": "state_url",
        "STUDIO_LLM_API_KEY_FILE": "LLMProvider.api_key_file",
        "STUDIO_LLM_API_KEY": "LLMProvider.api_key",
    }

    @validate("provider")
    def _valid_provider(self, proposal) -> str:
        if proposal.value not in PROVIDERS:
            raise TraitError(f"HintsService.provider must be one of {sorted(PROVIDERS)}, not {proposal.value!r}")
        return proposal.value

    def initialize(self, argv=None, environ=None) -> None:
        super().initialize(argv, environ)
        if not self.source_dirs:
            raise TraitError("HintsService.source_dirs is not set (where the courses' source is)")
        self.index = ExerciseIndex(*self.source_dirs)
        self.state: State = make_state(self.state_url, Path(self.data_dir) if self.data_dir else None)
        chosen = "provider_class" in self.config.get("HintsService", {})
        cls = self.provider_class if chosen else import_item(PROVIDERS[self.provider])
        self.hinter: HintProvider = cls(parent=self)
        self.tutor = self.hinter if isinstance(self.hinter, TutorProvider) else TutorProvider(parent=self)
        self.guard = Guard(max_code_lines=self.max_code_lines, max_overlap=self.max_overlap)

    # --- the service ------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple]:
        from .handlers import ROUTES

        return ROUTES

    def health(self) -> dict:
        return {"status": "ok", "provider": self.hinter.name}

    async def run(self) -> None:
        log.info("hints: provider %s, state %s", self.hinter.name, "redis" if self.state_url else "in-process")
        forwarding = None
        if self.portal_url and self.events_token:
            forwarding = asyncio.ensure_future(EventForwarder(self.state, self.portal_url, self.events_token).run())
        try:
            await asyncio.Event().wait()
        finally:
            if forwarding:
                forwarding.cancel()

    async def close(self) -> None:
        await self.state.close()

    # --- hints -------------------------------------------------------------------------------------------------

    async def next_hint(self, user: dict, exercise: Exercise, attempt: Attempt, more: bool) -> dict:
        t0 = time.perf_counter()
        who = user["name"]
        if await self.state.hit(f"{who}:{exercise.key}", self.rate_window) > self.rate_limit:
            raise RateLimited(self.rate_window)
        progress_key = _progress_key(who, exercise.key)
        progress = await self.state.get(progress_key) or {
            "rung": 0,
            "last": 0.0,
            "attempts": 0,
            "code": "",
            "shown": [],
        }
        code_hash = _hash(attempt.code)
        if progress["rung"] and code_hash != progress["code"]:
            progress["attempts"] += 1
        of = self.hinter.rungs(exercise)
        unlocked = self._unlocked(progress)
        if progress["rung"] == 0:
            rung = 1
        elif more and unlocked:
            rung = min(progress["rung"] + 1, of)
        else:
            rung = progress["rung"]
        # The hints of the rungs before this one (asking again on the same rung: its own hint is not "earlier").
        earlier = progress["shown"][:-1] if rung == progress["rung"] else progress["shown"]
        text, provider, cached, withheld = await self._hint_text(exercise, attempt, rung, who, earlier)
        if rung != progress["rung"]:
            progress.update(rung=rung, last=time.time(), attempts=0)
            progress["shown"] = [*progress["shown"], text][-8:]
        progress["code"] = code_hash
        await self.state.put(progress_key, progress, 30 * 86400)
        latency = (time.perf_counter() - t0) * 1000
        entry = {
            "time": time.time(),
            "student": who,
            "course": exercise.course,
            "assignment": exercise.assignment,
            "exercise": exercise.grade_id,
            "rung": rung,
            "of": of,
            "provider": provider,
            "latency_ms": round(latency, 2),
            "cached": cached,
            "withheld": withheld,
        }
        await self.state.log_hint(exercise.course, entry)
        await self.state.push_events([{"kind": "hint-shown", **entry}])
        return {
            "hint": text,
            "rung": rung,
            "of": of,
            "provider": provider,
            "withheld": bool(withheld),
            "more": {
                "available": rung < of,
                "unlocked": rung < of and self._unlocked(progress),
                "after_attempts": self.unlock_attempts,
                "after_seconds": self.unlock_seconds,
            },
        }

    def _unlocked(self, progress: dict) -> bool:
        return progress["attempts"] >= self.unlock_attempts or time.time() - progress["last"] >= self.unlock_seconds

    async def _hint_text(
        self, exercise: Exercise, attempt: Attempt, rung: int, who: str, shown: list[str]
    ) -> tuple[str, str, bool, str]:
        """(text, provider, from the cache, why a hint was withheld or "")."""
        # Everything that shapes the answer: the provider, the whole exercise as the source now has it (task, tests,
        # ladder, solution), the rung, the whole attempt (traceback included) and the hints already shown.
        key = "cache:" + _hash(repr((self.hinter.name, exercise, rung, attempt, tuple(shown))))
        cached = await self.state.get(key)
        if cached:
            return cached["text"], cached["provider"], True, cached["withheld"]
        request = HintRequest(exercise=exercise, attempt=attempt, rung=rung, student=who, shown=list(shown))
        provider = self.hinter.name
        try:
            text = await asyncio.wait_for(self.hinter.hint(request), self.provider_timeout)
        except Exception as e:  # noqa: BLE001 -- any failure (ProviderError, a timeout, a bug): the tutor
            if self.hinter is self.tutor:
                raise
            log.warning("%s provider failed for %s (%s); the tutor answers", provider, exercise.key, e)
            provider = self.tutor.name
            text = await self.tutor.hint(request)
        # What the student may see anyway: their code, the task and visible tests, the instructor's hints up to this
        # rung (an instructor's later hint may give away more: not before its time).
        seen = [attempt.code, exercise.task, exercise.visible_tests, exercise.starter, *exercise.hints[:rung]]
        verdict = self.guard.check(text, solution=exercise.solution, starter=exercise.starter, seen=seen)
        withheld = ""
        if not verdict.ok:
            withheld = verdict.reason
            log.warning("withheld a %s hint for %s: %s", provider, exercise.key, verdict.reason)
            text, provider = await self._safer(request), f"{provider}, withheld"
        await self.state.put(key, {"text": text, "provider": provider, "withheld": withheld}, self.cache_seconds)
        return text, provider, False, withheld

    async def _safer(self, request: HintRequest) -> str:
        """Instead of a withheld hint: the instructor's hint for this rung, else the tutor's first rung."""
        hints = request.exercise.hints
        if hints:
            return hints[min(request.rung, len(hints)) - 1]
        text = await self.tutor.hint(HintRequest(**{**request.__dict__, "rung": 1}))
        seen = [request.attempt.code, request.exercise.task, request.exercise.visible_tests]
        if self.guard.check(text, solution=request.exercise.solution, starter=request.exercise.starter, seen=seen).ok:
            return text
        return "Read the task again, and try your code by hand on the smallest example in the visible tests."

    # --- events ------------------------------------------------------------------------------------------------

    async def record_events(self, user: dict, raw: list) -> dict:
        # The quota counts what was sent, kept or not: a flood of rejected events costs the sender too.
        sent = await self.state.add(f"events:{user['name']}", min(len(raw), 500), 60)
        if sent > self.events_per_minute:
            raise RateLimited(60, f"more than {self.events_per_minute} learning events in a minute")
        accepted, rejected = [], 0
        mine = courses_of(user["groups"])
        for item in raw[:500]:
            event = self._event(item, user["name"], mine)
            if event is None:
                rejected += 1
                continue
            accepted.append(event)
            if event["kind"] in ("execute", "check") and event.get("exercise"):
                key = _progress_key(user["name"], f"{event['course']}/{event['assignment']}/{event['exercise']}")
                progress = await self.state.get(key)
                if progress and progress["rung"]:
                    progress["attempts"] += 1
                    await self.state.put(key, progress, 30 * 86400)
        if accepted:
            await self.state.push_events(accepted)
        return {"accepted": len(accepted), "rejected": rejected + max(0, len(raw) - 500)}

    def _event(self, item, student: str, mine: set[str]) -> dict | None:
        if problem(FROM_LEARNER, item):  # studio_wire.events, as the learner's server checked it (or did not)
            return None
        assignment, course = item.get("assignment", ""), item.get("course", "")
        if assignment and not SAFE_ID.match(assignment):
            return None
        if not course and assignment:
            course = next((c for c in self.index.courses_with(assignment) if c in mine), "")
        if not course or course not in mine:
            return None  # only the caller's own courses: nobody reports for another
        event = {"kind": item["kind"], "student": student, "course": course, "time": time.time()}
        if assignment:
            event["assignment"] = assignment
        event.update(
            {name: item[name] for name in ("exercise", "notebook", "ename", "ok", "rung", "code_hash") if name in item}
        )
        if "code" in item and self._keeps_code(course):
            event["code"] = item["code"][: LIMITS["code"]]
        return event

    def _keeps_code(self, course: str) -> bool:
        if self.store_code:
            return True
        try:
            meta = next(
                tomllib.loads(p.read_text())
                for d in self.source_dirs
                if (p := Path(d) / course / "course.toml").is_file()
            )
        except (OSError, tomllib.TOMLDecodeError, StopIteration):
            return False
        return bool(meta.get("hints", {}).get("store_code", False))

    # --- finding the exercise ----------------------------------------------------------------------------------

    def exercise_for(self, user: dict, data: dict) -> Exercise:
        assignment, grade_id = str(data.get("assignment") or ""), str(data.get("exercise") or "")
        notebook = data.get("notebook") or None
        course = str(data.get("course") or "")
        if not SAFE_ID.match(assignment) or not SAFE_ID.match(grade_id):
            raise ExchangeError('"assignment" and "exercise" (the answer cell\'s grade_id) are required')
        mine = courses_of(user["groups"])
        if course:
            if not SAFE_ID.match(course):
                raise ExchangeError('"course" is not a course id')
            if course not in mine:
                raise ExchangeError(f"{user['name']} is not in {course}", 403)
            candidates = [course]
        else:
            candidates = [c for c in self.index.courses_with(assignment) if c in mine]
            if not candidates and self.index.courses_with(assignment):
                raise ExchangeError(f"{user['name']} is in no course with the assignment {assignment}", 403)
        for c in candidates:
            if not roles_in(user["groups"], c) & {STUDENT, *TEAM}:
                continue
            found = self.index.find(c, assignment, grade_id, str(notebook) if notebook else None)
            if found:
                return found
        raise ExchangeError(f"no exercise {grade_id} in {assignment}", 404)


class RateLimited(RequestError):
    def __init__(self, window: float, why: str = "too many hints on this exercise: try it yourself for a while"):
        super().__init__(why, 429, {"Retry-After": str(int(window))})
        self.retry_after = int(window)


def _progress_key(student: str, exercise_key: str) -> str:
    """Where a student's place on an exercise's ladder is kept (rung, last hint, tries since)."""
    return f"progress:{student}:{exercise_key}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def attempt_from(data: dict) -> Attempt:
    def text(value, limit: int) -> str:
        return value[:limit] if isinstance(value, str) else ""

    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    test = data.get("test") if isinstance(data.get("test"), dict) else {}
    traceback = error.get("traceback") if isinstance(error.get("traceback"), list) else []
    lines, size = [], 0
    for line in traceback:
        if isinstance(line, str) and size + len(line) <= LIMITS["traceback"]:
            lines.append(line)
            size += len(line)
    count = data.get("answer_count")
    got = test.get("got")
    return Attempt(
        code=text(data.get("code"), LIMITS["code"]),
        ename=text(error.get("ename"), 100),
        evalue=text(error.get("evalue"), LIMITS["evalue"]),
        traceback=lines,
        answer_count=count if isinstance(count, int) else None,
        test_source=text(test.get("source"), LIMITS["test"]),
        got=got[: LIMITS["got"]] if isinstance(got, str) else None,
    )


main = HintsService.launch

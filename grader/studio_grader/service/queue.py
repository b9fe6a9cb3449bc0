"""The grading queue: each submission graded in a worker process as it arrives, and what it came to."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studio_hub.exchange.store import ExchangeError, check_id

from .. import jobs
from ..accounts import ensure_course_account
from ..courses import CourseSpace, Sandboxes
from .clients import ExchangeClient, PortalGrades
from .ledger import Ledger, ledger_url

log = logging.getLogger("studio.grading")


class Grading:
    """The queue and the workers."""

    def __init__(
        self,
        root: Path,
        *,
        content_dir: Path | None,
        gradebook: str,
        exchange_url: str,
        exchange_token: str = "",
        sandboxes: Sandboxes,
        workers: int,
        job_timeout: float,
        warm: bool = True,
        portal: PortalGrades | None = None,
        account_prefix: str = "studio-fg-",
    ):
        self.root, self.content_dir, self.gradebook = root, content_dir, gradebook
        # Formgraders run under an account per course (root makes them); a service not run by root has none.
        self.account_prefix = account_prefix if os.geteuid() == 0 else ""
        self.exchange_url, self.sandboxes, self.workers = exchange_url, sandboxes, max(1, workers)
        self.exchange_token = exchange_token
        self.job_timeout = job_timeout
        self.portal = portal
        self.ledger = Ledger(ledger_url(root, gradebook))
        self.spaces: dict[str, CourseSpace] = {}
        self.status: dict[str, dict[str, dict]] = {}
        self.queue: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self.running: dict[tuple[str, str, str], str] = {}
        self.finished: deque[float] = deque()  # when jobs ended, over the last minute
        settings = {
            "image": sandboxes.image,
            "runtime": sandboxes.runtime,
            "engine": sandboxes.engine,
            "mode": sandboxes.mode,
            "prefix": sandboxes.prefix,
        }
        # Spawned (not forked) from this asyncio process; each worker starts its sandbox right away (warm).
        self.pool = multiprocessing.get_context("spawn").Pool(
            self.workers, initializer=jobs.init_worker, initargs=(settings, warm)
        )
        for course in self.known_courses():
            self.space(course)

    def known_courses(self) -> list[str]:
        names = {p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")}
        if self.content_dir and self.content_dir.is_dir():
            names |= {p.name for p in self.content_dir.iterdir() if (p / "source").is_dir()}
        return sorted(n for n in names if _valid_id(n))

    def space(self, course: str) -> CourseSpace:
        """The course's grading folder, made the first time the course is seen (no restart for a new course)."""
        if course not in self.spaces:
            check_id("course", course)
            owner = ensure_course_account(self.account_prefix, course) if self.account_prefix else None
            space = CourseSpace(
                self.root,
                course,
                self.gradebook,
                self.content_dir,
                self.exchange_url,
                self.sandboxes,
                owner,
                exchange_token=self.exchange_token,
            )
            space.prepare()
            self.spaces[course] = space
            self.status[course] = self.ledger.load(course)
            if not self.status[course]:
                self.status[course] = space.take_old_status()
                self.ledger.take_in(course, self.status[course])
            # Whatever was queued or running when the service stopped is graded again.
            for key, entry in self.status[course].items():
                if entry.get("state") in ("queued", "grading"):
                    assignment, student = key.split("/")
                    self.queue[(course, assignment, student)] = entry["submission"]
        return self.spaces[course]

    def prepare(self, course: str, assignment: str) -> asyncio.Future:
        """An assignment released: its gradebook entries made and its solution measured in a worker now, before
        submissions come (the first submission would do it otherwise)."""

        async def run() -> None:
            try:
                await self._in_worker(jobs.prepare, (self.space(course), assignment), self.job_timeout)
            except Exception as e:  # noqa: BLE001 -- its first submission tries again, and says why
                log.warning("%s/%s: not prepared at release: %s", course, assignment, e)
            else:
                log.info("%s/%s: prepared (gradebook, the solution's timing)", course, assignment)

        return asyncio.ensure_future(run())

    async def publish(self, exchange, every_days: float = 7.0) -> list[str]:
        """Release every assignment the course repository has (``content_dir/<course>/source``) that was never
        released from here, in order, due a week apart: the demo's. What was published once is not again (an
        instructor may withdraw it). The names released."""
        done: list[str] = []
        if self.content_dir is None:
            return done
        for source in sorted(self.content_dir.glob("*/source")):
            course = source.parent.name
            space = self.space(course)
            record = space.folder / ".published"
            published = set(record.read_text().split()) if record.is_file() else set()
            released = {
                a["assignment_id"] for a in (await exchange.get(f"api/assignments?course={course}"))["assignments"]
            }
            todo = [p.name for p in sorted(source.iterdir()) if p.is_dir() and p.name not in published | released]
            for n, assignment in enumerate(todo, start=1):
                due = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0) + timedelta(
                    days=n * every_days
                )
                try:
                    await self._in_worker(jobs.publish, (space, assignment, due.isoformat()), self.job_timeout)
                except Exception as e:  # noqa: BLE001 -- the others go on; an instructor can release it by hand
                    log.warning("%s/%s: not published: %s", course, assignment, e)
                    continue
                published.add(assignment)
                record.write_text("\n".join(sorted(published)) + "\n")
                done.append(f"{course}/{assignment}")
                log.info("%s/%s: published from the course repository, due %s", course, assignment, due.isoformat())
        return done

    # --- the queue --------------------------------------------------------------------------------------------------
    def enqueue(self, course: str, assignment: str, student: str, sub_id: str, *, force: bool = False) -> bool:
        for kind, value in (("assignment", assignment), ("student", student), ("submission", sub_id)):
            check_id(kind, value)
        self.space(course)
        entry = self.status[course].get(f"{assignment}/{student}", {})
        if not force and entry.get("submission") == sub_id and entry.get("state") in ("graded", "failed"):
            return False
        key = (course, assignment, student)
        self.queue[key] = sub_id  # a newer submission replaces one still waiting
        self.queue.move_to_end(key)
        self._set(
            course, assignment, student, {**entry, "submission": sub_id, "state": "queued", "queued_at": time.time()}
        )
        self.kick()
        return True

    def kick(self) -> None:
        for key in list(self.queue):
            if len(self.running) >= self.workers:
                return
            if key in self.running:  # the same student's assignment is being graded: after it
                continue
            sub_id = self.queue.pop(key)
            self.running[key] = sub_id
            asyncio.ensure_future(self._run(key, sub_id))

    async def _run(self, key: tuple[str, str, str], sub_id: str) -> None:
        course, assignment, student = key
        entry = self.status[course].get(f"{assignment}/{student}", {})
        self._set(course, assignment, student, {**entry, "state": "grading", "started_at": time.time()})
        try:
            result = await self._in_worker(
                jobs.grade, (self.spaces[course], assignment, student, sub_id), self.job_timeout
            )
        except Exception as e:  # noqa: BLE001 -- a worker that died or hung: this submission fails, the rest go on
            result = {
                "state": "failed",
                "reason": f"the grading worker did not answer: {type(e).__name__} {e}",
                "flags": [],
                "graded_at": time.time(),
            }
        self.running.pop(key, None)
        self._set(
            course,
            assignment,
            student,
            {"submission": sub_id, **{k: v for k, v in result.items() if k not in ("course", "assignment", "student")}},
        )
        self.finished.append(time.time())
        while self.finished[0] < time.time() - 60:
            self.finished.popleft()
        log.info(
            "%s/%s by %s (%s): %s %s",
            course,
            assignment,
            student,
            sub_id,
            result["state"],
            result.get("reason") or f"{result.get('score')}/{result.get('max_score')}",
        )
        if self.portal is not None:
            self.portal.send(course, assignment, student, self.status[course][f"{assignment}/{student}"])
        self.kick()

    def _set(self, course: str, assignment: str, student: str, entry: dict) -> None:
        self.status[course][f"{assignment}/{student}"] = entry
        self.ledger.put(course, assignment, student, entry)

    async def catch_up(self, client: ExchangeClient) -> int:
        """Queue every latest submission the service has not graded (it may have been down when it came)."""
        queued = 0
        for course in sorted(set(self.known_courses()) | set(self.spaces)):
            try:
                subs = await client.get(f"api/submissions?course={course}")
            except Exception as e:  # noqa: BLE001 -- the exchange may be starting; the next look will do
                log.warning("could not list %s's submissions: %s", course, e)
                continue
            latest = {(s["assignment_id"], s["student_id"]): s["id"] for s in subs["submissions"]}
            for (assignment, student), sub_id in sorted(latest.items()):
                entry = self.status.get(course, {}).get(f"{assignment}/{student}", {})
                if entry.get("submission") != sub_id and (course, assignment, student) not in self.running:
                    queued += self.enqueue(course, assignment, student, sub_id)
        return queued

    async def refresh_scores(self) -> int:
        """Scores changed in a gradebook since (a grader's manual grades in formgrader) are taken into the status and
        sent to the portal; the number of changed ones."""
        changed = 0
        for course, space in list(self.spaces.items()):
            try:
                current = await self._in_worker(jobs.course_scores, (space.db_url,), 120)
            except Exception as e:  # noqa: BLE001 -- the next look will do
                log.warning("could not read %s's gradebook: %s", course, e)
                continue
            for key, entry in list(self.status[course].items()):
                new = current.get(key)
                if entry.get("state") != "graded" or new is None or all(entry.get(k) == v for k, v in new.items()):
                    continue
                assignment, student = key.split("/")
                self._set(course, assignment, student, {**entry, **new})
                if self.portal is not None:
                    self.portal.send(course, assignment, student, self.status[course][key])
                changed += 1
        return changed

    async def execute(self, job: dict) -> dict:
        """One notebook's cells in a worker's sandbox (a grader's own autograde), next to the queue's jobs."""
        return await self._in_worker(jobs.execute, (job,), job["job_timeout"] + 120)

    async def _in_worker(self, func, args: tuple, timeout: float):
        """``func(*args)`` in a worker process; its answer, or its exception, or TimeoutError."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def finish(value, ok=True):
            loop.call_soon_threadsafe(
                lambda: done.done() or (done.set_result(value) if ok else done.set_exception(value))
            )

        self.pool.apply_async(func, args, callback=finish, error_callback=lambda e: finish(e, ok=False))
        return await asyncio.wait_for(done, timeout)

    def progress(self, course: str | None = None) -> dict:
        entries = [e for c, st in self.status.items() if course in (None, c) for e in st.values()]
        states = {s: sum(1 for e in entries if e.get("state") == s) for s in ("queued", "grading", "graded", "failed")}
        recent = [t for t in self.finished if t > time.time() - 60]
        progress = {**states, "total": len(entries), "per_minute": len(recent), "workers": self.workers}
        if course is None and self.portal is not None:
            stats = self.portal.outbox.stats()  # grades waiting for the portal, and refused ones (the log says why)
            progress["to_portal"] = {k: stats[k] for k in ("pending", "refused")}
        return progress

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
        self.ledger.close()


def _valid_id(name: str) -> bool:
    try:
        check_id("course", name)
    except ExchangeError:
        return False
    return True

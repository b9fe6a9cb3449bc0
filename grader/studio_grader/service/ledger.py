"""What the grading service did with each student's latest submission: one row per course, assignment and student
in a table of the service's own, written one row at a time as a submission is queued, graded or fails.

The table is in the gradebooks' PostgreSQL database when there is one (production; beside the courses' schemas),
else in a SQLite file of the grading folder (the embedded default), through SQLAlchemy, which nbgrader's gradebook
uses already. What was queued or grading when the service stopped is read back at its start and graded again. A
``status.json`` that an earlier version kept in a course's folder is taken in once and renamed
``status.json.imported``.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()
status = sa.Table(
    "studio_grading_status",
    metadata,
    sa.Column("course", sa.String(100), primary_key=True),
    sa.Column("assignment", sa.String(100), primary_key=True),
    sa.Column("student", sa.String(100), primary_key=True),
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def ledger_url(root: Path, gradebook: str) -> str:
    """Where the table is: the gradebooks' PostgreSQL database, or ``<root>/.grading-status.db``."""
    if gradebook:
        return gradebook
    return f"sqlite:///{root / '.grading-status.db'}?timeout=60"


class Ledger:
    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    def load(self, course: str) -> dict[str, dict]:
        """The course's entries by ``"<assignment>/<student>"``."""
        with self.engine.connect() as c:
            rows = c.execute(sa.select(status.c.assignment, status.c.student, status.c.entry).filter_by(course=course))
            return {f"{a}/{s}": entry for a, s, entry in rows}

    def put(self, course: str, assignment: str, student: str, entry: dict) -> None:
        with self.engine.begin() as c:
            _replace(c, course, assignment, student, entry)

    def take_in(self, course: str, entries: dict[str, dict]) -> None:
        """An earlier version's ``status.json``, in one transaction."""
        with self.engine.begin() as c:
            for key, entry in entries.items():
                _replace(c, course, *key.split("/"), entry)

    def close(self) -> None:
        self.engine.dispose()


def _replace(c, course: str, assignment: str, student: str, entry: dict) -> None:
    """In the caller's transaction: the row is the old entry or the new one, never none (portable, unlike an upsert)."""
    key = {"course": course, "assignment": assignment, "student": student}
    c.execute(sa.delete(status).filter_by(**key))
    c.execute(sa.insert(status).values(**key, entry=entry, updated_at=time.time()))

"""The badges and the rules that award them, each a question about facts the portal already holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Badge:
    key: str
    name: str
    description: str


BADGES = {
    b.key: b
    for b in [
        Badge("first-submission", "First submission", "Submitted a first assignment and had it graded."),
        Badge("perfect-score", "Perfect score", "Every point of an assignment."),
        Badge("streak-7", "Seven-day streak", "Worked on the course seven days in a row."),
        Badge("helped-a-peer", "Helped a peer", "Wrote the reply marked as the answer to a classmate's question."),
    ]
}
POINTS_PER_BADGE = 20


@dataclass(frozen=True)
class Facts:
    """What the rules look at, for one person in one course."""

    graded: int = 0  # graded submissions
    perfect: int = 0  # of which with every point
    active_days: frozenset[date] = frozenset()
    answers_for_peers: int = 0  # their replies marked as the answer on someone else's thread


def longest_run(days: frozenset[date]) -> int:
    best = 0
    for day in days:
        if day - timedelta(days=1) not in days:  # the start of a run
            length = 1
            while day + timedelta(days=length) in days:
                length += 1
            best = max(best, length)
    return best


def earned(f: Facts) -> set[str]:
    rules = {
        "first-submission": f.graded >= 1,
        "perfect-score": f.perfect >= 1,
        "streak-7": longest_run(f.active_days) >= 7,
        "helped-a-peer": f.answers_for_peers >= 1,
    }
    return {key for key, ok in rules.items() if ok}

"""Which students may be struggling, and why: a score from four signals an instructor can check by hand.

Each signal becomes a number between 0 (no concern) and 1 (strong concern) on a scale written out below; the
score is their weighted sum. A signal that adds enough to the score is named as a reason, with its numbers, so
an instructor sees "no activity for 9 days" rather than a bare 0.62. Weights and scales were set on a generated
cohort (``analytics.cohort``) whose precision and recall the tests and the benchmark report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WEIGHTS = {"inactivity": 0.30, "failing": 0.20, "hints": 0.15, "grades": 0.35}
AT_RISK = 0.40  # a score at or above this puts the student on the list
REASON = 0.10  # a signal adding at least this much to the score is named


def _scale(value: float, low: float, high: float) -> float:
    """0 at ``low`` or below, 1 at ``high`` or above, linear between."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


@dataclass(frozen=True)
class Signals:
    days_inactive: float | None  # days since the last event; None: never active
    runs: int = 0  # cell runs in the recent window
    errors: int = 0  # of which ended in an error
    exercises: int = 0  # exercises attempted
    hints: int = 0  # hints shown
    grades: tuple[float, ...] = ()  # graded assignments' fractions of points, oldest first


@dataclass(frozen=True)
class Assessment:
    score: float
    at_risk: bool
    reasons: list[str] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)


def assess(s: Signals) -> Assessment:
    parts, words = {}, {}
    if s.days_inactive is None:
        parts["inactivity"], words["inactivity"] = 1.0, "has not started"
    else:
        parts["inactivity"] = _scale(s.days_inactive, 2, 9)  # a weekend off is fine; over a week is not
        words["inactivity"] = f"no activity for {s.days_inactive:.0f} days"
    rate = s.errors / s.runs if s.runs else 0.0
    parts["failing"] = _scale(rate, 0.30, 0.70) * _scale(s.runs, 0, 10)  # a handful of runs says little
    words["failing"] = f"{rate:.0%} of {s.runs} recent runs ended in an error"
    per_exercise = s.hints / s.exercises if s.exercises else 0.0
    parts["hints"] = _scale(per_exercise, 0.5, 2.0)
    words["hints"] = f"{per_exercise:.1f} hints per exercise"
    if s.grades:
        recent = s.grades[-2:]
        level = _scale(0.75 - sum(recent) / len(recent), 0, 0.35)  # mean of the last two, below 75%
        trend = _scale(s.grades[0] - s.grades[-1], 0.05, 0.35) if len(s.grades) > 1 else 0.0
        parts["grades"] = max(level, trend)
        history = " → ".join(f"{g:.0%}" for g in s.grades[-3:])
        words["grades"] = f"grades falling: {history}" if trend > level else f"low grades: {history}"
    else:
        parts["grades"] = 0.0
    score = sum(WEIGHTS[k] * v for k, v in parts.items())
    named = sorted((WEIGHTS[k] * v, k) for k, v in parts.items() if WEIGHTS[k] * v >= REASON)
    return Assessment(round(score, 3), score >= AT_RISK, [words[k] for _, k in reversed(named)], parts)

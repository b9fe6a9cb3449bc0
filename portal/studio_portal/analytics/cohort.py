"""A generated but realistic cohort, to check the at-risk score against an outcome it never sees.

Each student has a hidden ability and engagement; some lose engagement partway (the classic quiet drop-out). Four
observed weeks produce the events a hints service queues (cell runs, errors, hints) and the grades of four weekly
assignments. The outcome is the mean grade of the four weeks after, drawn from the same hidden traits with fresh
noise; a student "struggles" if it is under 60% or they drop out. The score sees only the observed weeks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

DAY = 86400.0
WEEKS = 4
EXERCISES = 3  # per weekly assignment


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@dataclass
class Cohort:
    start: float  # epoch seconds of day 0
    now: float  # the end of the observed weeks: when the score is computed
    students: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # as the hints service queues them, with ids
    grades: list[dict] = field(default_factory=list)  # as the grading service sends them
    struggling: dict[str, bool] = field(default_factory=dict)  # the outcome


def generate(
    n: int = 200,
    *,
    course: str = "intro-python",
    seed: int = 7,
    start: float = 1_790_000_000.0,
    assignments: tuple[str, ...] = ("ps01-values-and-names", "ps02-functions", "ps03-conditionals", "ps04-loops"),
) -> Cohort:
    rng = random.Random(seed)
    cohort = Cohort(start=start, now=start + WEEKS * 7 * DAY)
    seq = 0
    for i in range(n):
        name = f"cohort{i:04d}"
        cohort.students.append(name)
        ability, engagement = rng.gauss(0, 1), rng.gauss(0, 1)
        fade_day = rng.uniform(8, 27) if rng.random() < 0.18 else None
        weekly_activity = [0] * WEEKS
        for day in range(WEEKS * 7):
            g = engagement - (1.8 if fade_day is not None and day >= fade_day else 0.0)
            if rng.random() > _sigmoid(0.2 + 1.3 * g):
                continue
            week = day // 7
            weekly_activity[week] += 1
            t = start + day * DAY + rng.uniform(9, 20) * 3600
            for _ in range(3 + int(rng.expovariate(1 / (6 * _sigmoid(g) + 1)))):
                exercise = f"ex{rng.randrange(EXERCISES) + 1}"
                error = rng.random() < _sigmoid(-0.6 - 1.2 * ability)
                seq += 1
                cohort.events.append(
                    {
                        "id": str(seq),
                        "kind": "execute",
                        "student": name,
                        "course": course,
                        "assignment": assignments[week],
                        "exercise": exercise,
                        "ok": not error,
                        "time": t,
                    }
                )
                t += rng.uniform(20, 240)
                if error and rng.random() < _sigmoid(-0.9 - 1.0 * ability - 0.3 * g):
                    seq += 1
                    cohort.events.append(
                        {
                            "id": str(seq),
                            "kind": "hint-shown",
                            "student": name,
                            "course": course,
                            "assignment": assignments[week],
                            "exercise": exercise,
                            "time": t,
                        }
                    )
                    t += rng.uniform(20, 120)
        for week in range(WEEKS):
            if not weekly_activity[week]:
                continue  # nothing done that week: nothing submitted
            g = engagement - (1.8 if fade_day is not None and week * 7 + 6 >= fade_day else 0.0)
            fraction = min(1.0, max(0.0, _sigmoid(1.4 + 1.6 * ability + 0.6 * g + rng.gauss(0, 0.5))))
            cohort.grades.append(
                {
                    "course": course,
                    "assignment": assignments[week],
                    "student": name,
                    "state": "graded",
                    "score": round(7 * fraction, 2),
                    "max_score": 7.0,
                    "submission": f"w{week}",
                    "graded_at": start + (week * 7 + 6.9) * DAY,
                }
            )
        g_end = engagement - (1.8 if fade_day is not None else 0.0)
        dropped = g_end < -1.4 and rng.random() < 0.7
        future = [min(1.0, max(0.0, _sigmoid(1.4 + 1.6 * ability + 0.6 * g_end + rng.gauss(0, 0.5)))) for _ in range(4)]
        cohort.struggling[name] = dropped or sum(future) / 4 < 0.55
    return cohort

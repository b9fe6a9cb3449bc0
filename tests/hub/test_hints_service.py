"""The hints service's policy, on the real course source: rungs and their unlocking, the rate limit, the cache,
guardrails replacing a hint that shows the solution, a failing provider falling back to the tutor, events.

The service object is driven directly here (its HTTP side, with the real hub, is tests/integration/test_hints.py).
"""

from __future__ import annotations

import asyncio

import pytest

from studio_hub.hints import app as service
from studio_hub.hints import guard
from studio_hub.hints.providers import HintProvider, ProviderError
from studio_hub.hints.tutor import Attempt
from tests.conftest import COURSE_CONTENT

STUDENT = {"name": "student1", "groups": ["students-intro-python"]}
PS = "ps01-values-and-names"
PRINTS = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"


def make(*args: str, **config) -> service.HintsService:
    app = service.HintsService()
    app.initialize(["--source-dir", str(COURSE_CONTENT), *args])
    for name, value in config.items():
        setattr(app, name, value)
    return app


def ask(app, code: str = PRINTS, more: bool = False, user=STUDENT, exercise: str = "ex1-answer", **data) -> dict:
    found = app.exercise_for(user, {"assignment": PS, "exercise": exercise, **data})
    return asyncio.run(app.next_hint(user, found, Attempt(code=code), more))


def test_the_ladder_climbs_only_when_unlocked():
    app = make("--provider", "ladder", unlock_seconds=3600)
    first = ask(app)
    assert (first["rung"], first["of"], first["provider"]) == (1, 2, "ladder")
    assert first["hint"] == "The formula is F = C × 9/5 + 32."
    assert first["more"] == {"available": True, "unlocked": False, "after_attempts": 1, "after_seconds": 3600}
    # Asking for more before trying again: the same hint.
    assert ask(app, more=True)["rung"] == 1
    # A new try (changed code) unlocks the next rung; the ladder's last is the most specific.
    second = ask(app, code=PRINTS + "# tried\n", more=True)
    assert second["rung"] == 2 and "return" in second["hint"] and not second["more"]["available"]
    assert ask(app, code=PRINTS + "# again\n", more=True)["rung"] == 2, "no rung past the last"


def test_time_unlocks_the_next_rung_too():
    app = make("--provider", "ladder", unlock_seconds=0)
    assert ask(app)["rung"] == 1
    assert ask(app, more=True)["rung"] == 2


def test_tutor_rungs_name_the_problem_then_say_where_then_add_the_ladder():
    app = make(unlock_seconds=0)
    rungs = [ask(app, more=i > 0) for i in range(4)]
    assert [r["rung"] for r in rungs] == [1, 2, 3, 4] and rungs[0]["of"] == 4
    assert rungs[0]["hint"] == "`celsius_to_fahrenheit` prints its result instead of returning it."
    assert rungs[1]["hint"].startswith(rungs[0]["hint"]) and "line 2" in rungs[1]["hint"]
    assert rungs[2]["hint"].endswith("From your instructor: The formula is F = C × 9/5 + 32.")


def test_rate_limit_per_student_and_exercise():
    app = make(rate_limit=3)
    for _ in range(3):
        ask(app)
    with pytest.raises(service.RateLimited):
        ask(app)
    ask(app, exercise="ex2-answer", code="def seconds_to_hms(total):\n    return 0\n")  # another exercise: fine
    ask(app, user={"name": "student2", "groups": ["students-intro-python"]})  # another student: fine


def test_identical_requests_come_from_the_cache():
    calls = []

    class Counting(HintProvider):
        name = "counting"

        async def hint(self, request):
            calls.append(request.rung)
            return f"look at your code ({len(calls)})"

    app = make(unlock_seconds=3600)
    app.hinter = Counting(parent=app)
    first, again = ask(app), ask(app)
    assert first["hint"] == again["hint"] and calls == [1]
    log = asyncio.run(app.state.hint_log("intro-python"))
    assert [e["cached"] for e in log] == [True, False], "every hint shown is logged, newest first"
    assert {"student", "exercise", "rung", "provider", "latency_ms"} <= set(log[0])


@pytest.mark.parametrize("failure", ["error", "timeout", "crash"])
def test_a_failing_provider_falls_back_to_the_tutor(failure):
    class Failing(HintProvider):
        name = "failing"

        async def hint(self, request):
            if failure == "timeout":
                await asyncio.sleep(5)
            if failure == "crash":
                raise KeyError("boom")
            raise ProviderError("no model")

    app = make(provider_timeout=0.2)
    app.hinter = Failing(parent=app)
    got = ask(app)
    assert got["provider"] == "tutor" and "prints its result" in got["hint"]


@pytest.mark.parametrize(
    "text",
    [
        "Try this:\n```python\ndef celsius_to_fahrenheit(c):\n    x = c * 9 / 5\n    x = x + 32\n    return x\n```",
        "Just write `return c * 9 / 5 + 32` and you are done.",
        "The answer is return c * 9 / 5 + 32",
    ],
)
def test_a_hint_that_shows_the_solution_is_withheld_and_replaced(text):
    class Leaky(HintProvider):
        name = "leaky"

        async def hint(self, request):
            return text

    app = make()
    app.hinter = Leaky(parent=app)
    # The student's own code is nothing like the solution: quoting it would not count.
    got = ask(app, code="def celsius_to_fahrenheit(c):\n    pass\n")
    assert got["withheld"] and got["provider"] == "leaky, withheld"
    assert got["hint"] == "The formula is F = C × 9/5 + 32.", "the instructor's hint for that rung instead"
    assert "c * 9 / 5 + 32" not in got["hint"]


def test_guard_lets_through_what_the_student_may_see_anyway():
    g = guard.Guard()
    solution = "def f(c):\n    return c * 9 / 5 + 32\n"
    starter = "def f(c):\n    raise NotImplementedError()\n"
    leak = "Write `return c * 9 / 5 + 32`."
    assert not g.check(leak, solution=solution, starter=starter).ok
    # The student wrote it (with print): quoting their own line back is fine.
    assert g.check(leak, solution=solution, starter=starter, seen=["def f(c):\n    return c * 9 / 5 + 32"]).ok
    # The function's name and signature are in the starter: not a leak.
    assert g.check("Your `def f(c):` line is fine.", solution=solution, starter=starter).ok
    assert not g.check("```\na\nb\nc\nd\n```", solution=solution, starter=starter).ok, "4 lines of code"
    assert g.check("```\na = 1\n```", solution=solution, starter=starter).ok


def test_authorization_by_course():
    app = make()
    other = {"name": "mallory", "groups": ["students-data-science"]}
    with pytest.raises(service.ExchangeError) as e:
        app.exercise_for(other, {"assignment": PS, "exercise": "ex1-answer"})
    assert e.value.status == 403
    with pytest.raises(service.ExchangeError) as e:
        app.exercise_for(other, {"course": "intro-python", "assignment": PS, "exercise": "ex1-answer"})
    assert e.value.status == 403
    with pytest.raises(service.ExchangeError) as e:
        app.exercise_for(STUDENT, {"assignment": PS, "exercise": "no-such-cell"})
    assert e.value.status == 404
    for bad in ("../ps01", "ps01/../../etc", ""):
        with pytest.raises(service.ExchangeError):
            app.exercise_for(STUDENT, {"assignment": bad, "exercise": "ex1-answer"})


def test_events_are_queued_for_the_caller_own_courses_only_and_count_attempts():
    app = make("--provider", "ladder", unlock_seconds=3600)
    ask(app)
    result = asyncio.run(
        app.record_events(
            STUDENT,
            [
                {
                    "kind": "execute",
                    "assignment": PS,
                    "exercise": "ex1-answer",
                    "ok": False,
                    "ename": "AssertionError",
                    "code_hash": "ab" * 16,
                    "code": "print('secret')",
                },
                {"kind": "execute", "course": "data-science", "ok": True},  # not their course
                {"kind": "shell", "assignment": PS},  # not an event kind
                {"kind": "execute", "assignment": PS, "exercise": "x" * 101},  # not a name of ours
                "garbage",
            ],
        )
    )
    assert result == {"accepted": 1, "rejected": 4}
    (_, event), *_ = [e for e in asyncio.run(app.state.read_events()) if e[1]["kind"] == "execute"]
    assert event["student"] == "student1" and event["course"] == "intro-python" and "code" not in event
    # That run counts as a new try: the next rung is unlocked.
    assert ask(app, more=True)["rung"] == 2


def test_a_flood_of_events_is_refused_per_student_and_nobody_elses_is_lost():
    """Attack: a learner's server posts learning events as fast as it can (500 a batch)."""
    app = make(events_per_minute=600)
    run = {"kind": "execute", "assignment": PS, "ok": True}
    assert asyncio.run(app.record_events(STUDENT, [run] * 500))["accepted"] == 500
    with pytest.raises(service.RateLimited, match="more than 600 learning events") as refused:
        asyncio.run(app.record_events(STUDENT, [run] * 500))
    assert refused.value.retry_after == 60
    other = {"name": "student2", "groups": ["students-intro-python"]}
    assert asyncio.run(app.record_events(other, [run] * 3))["accepted"] == 3
    queued = [e for _, e in asyncio.run(app.state.read_events(count=2000))]
    assert sum(e["student"] == "student1" for e in queued) == 500, "nothing of the refused batch was kept"
    assert sum(e["student"] == "student2" for e in queued) == 3


@pytest.mark.integration
def test_state_in_redis_is_shared_and_events_go_to_a_stream():
    import secrets

    from studio_hub.hints.state import EVENTS_STREAM, RedisState
    from tests.services import ensure_redis

    url = ensure_redis() + "/3"
    prefix = f"studio:test:{secrets.token_hex(3)}:"

    async def scenario():
        one, two = RedisState(url, prefix=prefix), RedisState(url, prefix=prefix)  # two service processes
        try:
            assert [await one.hit("s1:ex", 60), await two.hit("s1:ex", 60), await one.hit("s2:ex", 60)] == [1, 2, 1]
            await one.put("progress:s1", {"rung": 2}, 60)
            assert await two.get("progress:s1") == {"rung": 2} and await two.get("nothing") is None
            before = await one.redis.xlen(EVENTS_STREAM)
            last = (await one.redis.xrevrange(EVENTS_STREAM, count=1) or [("0-0", {})])[0][0]
            await one.push_events([{"kind": "execute", "n": 1}, {"kind": "execute", "n": 2}])
            assert await two.redis.xlen(EVENTS_STREAM) == before + 2
            assert [e["n"] for _, e in await two.read_events(last)] == [1, 2]
            await one.log_hint("c1", {"rung": 1})
            await one.log_hint("c1", {"rung": 2})
            assert [e["rung"] for e in await two.hint_log("c1")] == [2, 1]
        finally:
            keys = await one.redis.keys(prefix + "*")
            if keys:
                await one.redis.delete(*keys)
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_the_cache_key_covers_what_shapes_an_answer():
    """Two requests that differ in the hints already shown or the traceback are two model calls, not one answer
    served to both."""
    calls = []

    class Counting(HintProvider):
        name = "counting"

        async def hint(self, request):
            calls.append((request.rung, tuple(request.shown)))
            return f"look at your code ({len(calls)})"

    app = make(unlock_seconds=3600)
    app.hinter = Counting(parent=app)
    found = app.exercise_for(STUDENT, {"assignment": PS, "exercise": "ex1-answer"})
    for traceback in (["line 1"], ["line 2"], ["line 2"]):
        asyncio.run(app.next_hint(STUDENT, found, Attempt(code=PRINTS, traceback=traceback), False))
    assert len(calls) == 2
    other = {"name": "student2", "groups": ["students-intro-python"]}
    asyncio.run(app.next_hint(other, found, Attempt(code=PRINTS, traceback=["line 2"]), False))
    assert len(calls) == 2, "the same request by another student, nothing shown before: from the cache"


@pytest.mark.parametrize(
    "hidden_block",
    [
        "# BEGIN HIDDEN TESTS\nassert f(98.6) == 37\n# END HIDDEN TESTS\n",  # one '#', as nbgrader accepts
        "pass  ### BEGIN HIDDEN TESTS\nassert f(98.6) == 37\n### END HIDDEN TESTS\n",  # not at the line's start
        "    ### BEGIN HIDDEN TESTS\n    assert f(98.6) == 37\n",  # never closed: runs to the end, as in nbgrader
    ],
)
def test_hidden_tests_are_found_as_nbgrader_finds_them(tmp_path, hidden_block):
    """Attack (by a careless or clever course author): markers nbgrader honours but a stricter pattern would miss
    make hidden tests 'visible' to the model and the guard."""
    import json

    from nbformat import from_dict
    from nbgrader.preprocessors import ClearHiddenTests

    from studio_hub.hints.exercises import exercises_in

    test_source = "assert f(0) == 32\n" + hidden_block
    cells = [
        {
            "cell_type": "code",
            "source": "def f(c):\n    ### BEGIN SOLUTION\n    return c * 9 / 5 + 32\n    ### END SOLUTION\n",
            "metadata": {"nbgrader": {"solution": True, "grade_id": "a", "grade": False}},
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "source": test_source,
            "outputs": [],
            "execution_count": None,
            "metadata": {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}},
        },
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (exercise,) = exercises_in(path, "c", "a1")
    assert "98.6" not in exercise.visible_tests and "assert f(0) == 32" in exercise.visible_tests
    assert "return c * 9 / 5 + 32" not in exercise.starter and "return c * 9 / 5 + 32" in exercise.solution
    # The same as nbgrader's own ClearHiddenTests gives students (which refuses a region never closed; here it
    # hides everything after the marker).
    cell = from_dict(cells[1])
    if "END HIDDEN" not in hidden_block:
        with pytest.raises(RuntimeError, match="No end hidden tests"):
            ClearHiddenTests()._remove_hidden_test_region(cell)
        return
    ClearHiddenTests()._remove_hidden_test_region(cell)
    assert exercise.visible_tests == cell.source.strip()

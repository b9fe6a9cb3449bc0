"""The exchange's storage: atomic releases, every submission kept, late flags, names and sizes checked."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from studio_hub.exchange.store import ExchangeError, ExchangeStore, Limits

NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


@pytest.fixture
def store(tmp_path):
    return ExchangeStore(tmp_path / "exchange", Limits(max_bytes=10_000, max_files=5, max_submissions=3))


def test_release_fetch_and_replace(store):
    info = store.release("intro", "ps1", {"ps1.ipynb": NB, "data/input.csv": b"a,b\n"}, by="inst")
    assert info["notebooks"] == ["ps1"] and info["duedate"] is None and info["by"] == "inst"
    assert store.released_files("intro", "ps1") == {"ps1.ipynb": NB, "data/input.csv": b"a,b\n"}
    store.release("intro", "ps1", {"ps1.ipynb": b"{}", "extra.ipynb": NB}, by="inst")
    assert store.released_files("intro", "ps1") == {"extra.ipynb": NB, "ps1.ipynb": b"{}"}
    assert [r["assignment_id"] for r in store.releases(["intro", "other"])] == ["ps1"]
    versions = store.root / "intro" / "versions" / "ps1"
    assert len(list(versions.iterdir())) == 2, "the replaced release stays a while, for readers still in it"
    for old in versions.iterdir():
        os.utime(old, (0, 0))  # as if long ago
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    assert len(list(versions.iterdir())) == 1, "then it is removed"


def test_readers_never_see_a_half_written_release(store):
    big = {f"nb{i}.ipynb": NB * 20 for i in range(5)}
    store.release("intro", "ps1", big, by="inst")
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append(len(store.released_files("intro", "ps1")))
            except Exception as e:  # noqa: BLE001 -- any error fails the test below
                errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(30):
        files = big if i % 2 else {"one.ipynb": NB}
        store.release("intro", "ps1", files, by="inst")
    stop.set()
    reader.join()
    assert not errors
    assert seen and set(seen) <= {1, 5}


def test_every_submission_is_kept_and_the_latest_wins(store):
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    first = store.submit("intro", "ps1", "sam", {"ps1.ipynb": b'{"v": 1}'})
    second = store.submit("intro", "ps1", "sam", {"ps1.ipynb": b'{"v": 2}'})
    store.submit("intro", "ps1", "kim", {"ps1.ipynb": b'{"v": 9}'})
    assert first["id"] < second["id"] and first["timestamp"] < second["timestamp"]
    history = store.submissions("intro", assignment="ps1", student="sam")
    assert [s["id"] for s in history] == [first["id"], second["id"]]
    assert store.latest("intro", "ps1", "sam")["id"] == second["id"]
    assert store.submission_files("intro", "ps1", "sam", first["id"]) == {"ps1.ipynb": b'{"v": 1}'}
    assert {s["student_id"] for s in store.submissions("intro")} == {"sam", "kim"}
    store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    with pytest.raises(ExchangeError, match="3 submissions") as e:
        store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    assert e.value.status == 429 and "ask your instructor" in str(e.value)


def test_a_student_may_keep_only_so_much_in_a_course(tmp_path):
    """Attack: fill the exchange's disk with submissions just under the size limit, assignment after assignment.
    The quota is per student and course; what others submitted is untouched."""
    store = ExchangeStore(tmp_path / "exchange", Limits(max_bytes=10_000, max_student_bytes=25_000))
    for ps in ("ps1", "ps2"):
        store.release("intro", ps, {f"{ps}.ipynb": NB}, by="inst")
    kim = store.submit("intro", "ps1", "kim", {"ps1.ipynb": b"k" * 9_000})
    store.submit("intro", "ps1", "sam", {"ps1.ipynb": b"x" * 9_000})
    store.submit("intro", "ps2", "sam", {"ps2.ipynb": b"x" * 9_000})
    with pytest.raises(ExchangeError, match="each student may keep") as e:
        store.submit("intro", "ps2", "sam", {"ps2.ipynb": b"x" * 9_000})
    assert e.value.status == 413
    store.submit("intro", "ps2", "sam", {"ps2.ipynb": b"x" * 100})  # what still fits is taken
    assert store.submit("intro", "ps1", "kim", {"ps1.ipynb": b"k" * 9_000})["student_id"] == "kim"
    assert store.submission_files("intro", "ps1", "kim", kim["id"]) == {"ps1.ipynb": b"k" * 9_000}


def test_late_flag_and_collecting_before_the_due_date(store):
    past = datetime.now(UTC) - timedelta(hours=1)
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    on_time = store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst", duedate=past)  # the due date passes
    late = store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    assert not on_time["late"] and late["late"]
    assert store.latest("intro", "ps1", "sam")["id"] == late["id"]
    assert store.latest("intro", "ps1", "sam", before_duedate=True)["id"] == on_time["id"]


def test_cannot_submit_to_an_assignment_that_is_not_released(store):
    with pytest.raises(ExchangeError, match="not released") as e:
        store.submit("intro", "ps9", "sam", {"ps9.ipynb": NB})
    assert e.value.status == 404


@pytest.mark.parametrize(
    "name",
    [
        "../escape.ipynb",
        "/etc/passwd",
        "a/../../b.ipynb",
        ".hidden.ipynb",
        "a/.git/config",
        "a\\..\\b",
        "",
        "a//b.ipynb",
        "a/b/c/d/e.ipynb",
        "x" * 300,
    ],
)
def test_unsafe_file_names_are_refused_and_nothing_is_written(store, name):
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    with pytest.raises(ExchangeError, match="invalid file name"):
        store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB, name: b"x"})
    assert store.submissions("intro") == []
    assert not any(p.name == "escape.ipynb" for p in store.root.parent.rglob("*"))


@pytest.mark.parametrize(
    "kind,ids",
    [
        ("course", ("../x", "ps1", "sam")),
        ("assignment", ("intro", "..", "sam")),
        ("student", ("intro", "ps1", "a/b")),
        ("student", ("intro", "ps1", "sam+ps1+x")),
    ],
)
def test_unsafe_ids_are_refused(store, kind, ids):
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    with pytest.raises(ExchangeError, match=f"invalid {kind}"):
        store.submit(*ids, {"ps1.ipynb": NB})


def test_size_and_count_limits(store):
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    with pytest.raises(ExchangeError, match="at most 9.8 KiB") as e:
        store.submit("intro", "ps1", "sam", {"ps1.ipynb": b"x" * 10_001})
    assert e.value.status == 413
    with pytest.raises(ExchangeError, match="at most 5"):
        store.submit("intro", "ps1", "sam", {f"f{i}.ipynb": NB for i in range(6)})
    with pytest.raises(ExchangeError, match="no files"):
        store.submit("intro", "ps1", "sam", {})
    assert store.submissions("intro") == []
    assert list((store.root / "intro" / ".incoming").iterdir()) == [], "nothing half-written is left behind"


def test_feedback_is_tied_to_one_submission_and_can_be_replaced(store):
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst")
    first = store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    second = store.submit("intro", "ps1", "sam", {"ps1.ipynb": NB})
    store.put_feedback("intro", "ps1", "sam", first["id"], {"ps1.html": b"<p>v1</p>"})
    info = store.put_feedback("intro", "ps1", "sam", first["id"], {"ps1.html": b"<p>v2</p>"})
    assert set(info["feedback"]) == {"ps1"}
    assert store.feedback_files("intro", "ps1", "sam", first["id"]) == {"ps1.html": b"<p>v2</p>"}
    assert store.feedback_files("intro", "ps1", "sam", second["id"]) == {}
    with pytest.raises(ExchangeError, match="no submission"):
        store.put_feedback("intro", "ps1", "kim", first["id"], {"ps1.html": b"x"})
    with pytest.raises(ExchangeError, match="one <notebook>.html"):
        store.put_feedback("intro", "ps1", "sam", first["id"], {"ps1.ipynb": b"x"})


def test_records_for_the_portal_say_what_each_student_did_and_are_valid_for_it(store):
    from studio_wire.exchange import RECORDS, problem

    due = datetime.now(UTC) - timedelta(hours=1)
    store.release("intro", "ps1", {"ps1.ipynb": NB}, by="inst", duedate=due)
    assert store.work_record("intro", "ps1", "ann")["fetched_at"] is None
    assert store.mark_fetched("intro", "ps1", "ann") and not store.mark_fetched("intro", "ps1", "ann")  # first only
    sub = store.submit("intro", "ps1", "bob", {"ps1.ipynb": NB})
    store.put_feedback("intro", "ps1", "bob", sub["id"], {"ps1.html": b"<p>ok</p>"})
    records = store.records()
    assert records[0] == {
        "kind": "assignment",
        "course": "intro",
        "assignment": "ps1",
        "released": True,
        "due": due.isoformat(),
        "released_at": records[0]["released_at"],
        "notebooks": ["ps1"],
    }
    ann, bob = records[1:]
    assert (ann["student"], ann["submissions"], ann["feedback"]) == ("ann", 0, False) and ann["fetched_at"]
    assert (bob["student"], bob["submissions"], bob["submission"]) == ("bob", 1, sub["id"])
    assert bob["late"] and bob["feedback"]
    assert problem(RECORDS, {"records": records}) is None
    store.unrelease("intro", "ps1")
    assert store.assignment_record("intro", "ps1") == {
        "kind": "assignment",
        "course": "intro",
        "assignment": "ps1",
        "released": False,
    }

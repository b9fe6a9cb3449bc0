"""The lesson extension in a real jupyter_server (jupyter_server's pytest plugin), without a hub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from studio_ext.lessons import copy_once

pytest_plugins = ["pytest_jupyter.jupyter_server"]

LESSON = "lessons/01-intro.ipynb"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "course-a" / "lessons").mkdir(parents=True)
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "course-a" / LESSON).write_text(json.dumps(notebook))
    (root / "secret.ipynb").write_text("{}")  # outside any course
    (root / "course-a" / "lessons" / "escape.ipynb").symlink_to(root / "secret.ipynb")
    return root


@pytest.fixture
def jp_server_config(content):
    return {
        "ServerApp": {"jpserver_extensions": {"studio_ext": True}},
        "Lessons": {"content_dir": str(content), "hub_api_url": ""},
    }


async def open_lesson(jp_fetch, course: str, path: str):
    return await jp_fetch("studio", "lessons", course, *path.split("/"), follow_redirects=False, raise_error=False)


async def test_first_open_copies_and_redirects_to_jupyterlab(jp_fetch, jp_root_dir: Path, content: Path):
    resp = await open_lesson(jp_fetch, "course-a", LESSON)
    assert resp.code == 302
    assert resp.headers["Location"].endswith("/lab/tree/course-a/lessons/01-intro.ipynb")
    copy = jp_root_dir / "course-a" / LESSON
    assert copy.read_bytes() == (content / "course-a" / LESSON).read_bytes()
    assert not list(copy.parent.glob(".studio-*"))  # no temporary file left behind


async def test_second_open_keeps_the_learners_edits(jp_fetch, jp_root_dir: Path, content: Path):
    await open_lesson(jp_fetch, "course-a", LESSON)
    copy = jp_root_dir / "course-a" / LESSON
    copy.write_text('{"edited": true}')
    resp = await open_lesson(jp_fetch, "course-a", LESSON)
    assert resp.code == 302
    assert copy.read_text() == '{"edited": true}'


async def test_an_unchanged_copy_gets_the_courses_new_version(jp_fetch, jp_root_dir: Path, content: Path):
    await open_lesson(jp_fetch, "course-a", LESSON)
    (content / "course-a" / LESSON).write_text('{"course": "updated"}')
    resp = await open_lesson(jp_fetch, "course-a", LESSON)
    assert resp.code == 302 and resp.headers["Location"].endswith("/lab/tree/course-a/lessons/01-intro.ipynb")
    assert (jp_root_dir / "course-a" / LESSON).read_text() == '{"course": "updated"}'
    assert not list((jp_root_dir / "course-a" / "lessons").glob("*.updated*"))


async def test_a_changed_copy_is_kept_and_the_new_version_put_beside_it_told_once(jp_fetch, jp_root_dir, content):
    await open_lesson(jp_fetch, "course-a", LESSON)
    copy = jp_root_dir / "course-a" / LESSON
    beside = copy.with_name("01-intro.updated.ipynb")
    copy.write_text('{"edited": true}')
    (content / "course-a" / LESSON).write_text('{"course": "updated"}')
    told = await open_lesson(jp_fetch, "course-a", LESSON)
    page = told.body.decode()
    assert told.code == 200 and "This lesson was updated" in page, page
    assert 'id="mine" href="' in page and "lab/tree/course-a/lessons/01-intro.ipynb" in page
    assert "lab/tree/course-a/lessons/01-intro.updated.ipynb" in page
    assert copy.read_text() == '{"edited": true}' and beside.read_text() == '{"course": "updated"}'
    # Told once: the next open goes to their copy.
    again = await open_lesson(jp_fetch, "course-a", LESSON)
    assert again.code == 302 and again.headers["Location"].endswith("/01-intro.ipynb")
    # Changed again: the version beside (untouched) is replaced, and they are told again.
    (content / "course-a" / LESSON).write_text('{"course": "updated twice"}')
    assert (await open_lesson(jp_fetch, "course-a", LESSON)).code == 200
    assert beside.read_text() == '{"course": "updated twice"}' and copy.read_text() == '{"edited": true}'
    # They worked in the version beside too: a third version goes to a name of its own; nothing of theirs is lost.
    beside.write_text('{"my notes": true}')
    (content / "course-a" / LESSON).write_text('{"course": "third"}')
    assert (await open_lesson(jp_fetch, "course-a", LESSON)).code == 200
    dated = sorted(copy.parent.glob("01-intro.updated-*.ipynb"))
    assert len(dated) == 1 and dated[0].read_text() == '{"course": "third"}'
    assert beside.read_text() == '{"my notes": true}' and copy.read_text() == '{"edited": true}'


async def test_a_copy_made_before_versions_were_remembered_is_kept_when_it_differs(jp_fetch, jp_root_dir, content):
    copy = jp_root_dir / "course-a" / LESSON
    copy.parent.mkdir(parents=True)
    copy.write_text('{"old copy": true}')  # no ~/.studio/lessons.json: whether it was changed is unknown
    resp = await open_lesson(jp_fetch, "course-a", LESSON)
    assert resp.code == 200 and copy.read_text() == '{"old copy": true}'
    assert copy.with_name("01-intro.updated.ipynb").read_bytes() == (content / "course-a" / LESSON).read_bytes()


async def test_deleted_copy_is_copied_again(jp_fetch, jp_root_dir: Path):
    await open_lesson(jp_fetch, "course-a", LESSON)
    copy = jp_root_dir / "course-a" / LESSON
    copy.unlink()
    await open_lesson(jp_fetch, "course-a", LESSON)
    assert copy.exists()


@pytest.mark.parametrize(
    ("course", "path", "code"),
    [
        ("course-a", "../course-a/lessons/01-intro.ipynb", 400),
        ("course-a", "lessons/../../secret.ipynb", 400),
        ("course-a", "lessons/.hidden.ipynb", 400),
        ("course-a", "lessons/notes.txt", 400),
        ("..", "secret.ipynb", 400),
        ("Course-A", LESSON, 400),
        ("course-a", "lessons/missing.ipynb", 404),
        ("course-b", LESSON, 404),
        ("course-a", "lessons/escape.ipynb", 404),  # a symlink out of the course
    ],
)
async def test_bad_lesson_paths_are_refused_and_copy_nothing(jp_fetch, jp_root_dir: Path, course, path, code):
    before = sorted(p for p in jp_root_dir.rglob("*"))
    resp = await open_lesson(jp_fetch, course, path)
    assert resp.code == code
    assert sorted(p for p in jp_root_dir.rglob("*")) == before


async def test_a_file_in_the_way_is_a_clear_409_and_nothing_is_lost(jp_fetch, jp_root_dir: Path):
    (jp_root_dir / "course-a").write_text("my own file called course-a")
    resp = await open_lesson(jp_fetch, "course-a", LESSON)
    assert resp.code == 409 and b"Move or rename what is in the way" in resp.body
    assert (jp_root_dir / "course-a").read_text() == "my own file called course-a"


async def test_anonymous_requests_are_not_served(jp_fetch):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "studio", "lessons", "course-a", *LESSON.split("/"), headers={"Authorization": ""}, follow_redirects=False
        )
    assert e.value.code in (302, 403)


def test_copy_once_never_replaces_an_existing_file(tmp_path: Path):
    src, dest = tmp_path / "src.ipynb", tmp_path / "home" / "x.ipynb"
    src.write_text("course")
    assert copy_once(src, dest) is True
    dest.write_text("mine")
    assert copy_once(src, dest) is False
    assert dest.read_text() == "mine"
    dest.unlink()
    dest.symlink_to(tmp_path / "nowhere")  # a dangling link is the learner's too: leave it
    assert copy_once(src, dest) is False
    assert oct(os.lstat(dest).st_mode)  # still there

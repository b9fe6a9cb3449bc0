"""Course content as each side gets it (studio_hub.content), and lessons' practice exercises as the hints service
finds them (studio_hub.hints.exercises), on the real course repository."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from studio_hub.content import ContentError, main, publish
from studio_hub.hints.exercises import ExerciseIndex, released
from tests.conftest import COURSE_CONTENT

COURSE = "intro-python"


def _answer(nb: dict) -> dict:
    (cell,) = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    return cell


def test_learners_get_lessons_without_solutions_or_ladders_and_the_trusted_side_gets_them_whole(tmp_path):
    cleared = publish([COURSE_CONTENT / COURSE], tmp_path / "content")
    assert cleared == 8  # one practice exercise in each of the eight lessons
    course = tmp_path / "content" / COURSE
    assert not (course / "source").exists() and (course / "course.toml").is_file()
    lesson = json.loads((course / "lessons" / "02-functions.ipynb").read_text())
    answer = _answer(lesson)
    assert "".join(answer["source"]).splitlines() == [
        "def celsius_to_fahrenheit(c):",
        "    # YOUR CODE HERE",
        "    raise NotImplementedError()",
    ]
    assert "studio" not in answer["metadata"] and answer["outputs"] == []
    assert stat.S_IMODE((course / "lessons" / "02-functions.ipynb").stat().st_mode) == 0o644
    assert stat.S_IMODE((course / "lessons").stat().st_mode) == 0o755

    publish([COURSE_CONTENT / COURSE], tmp_path / "trusted", trusted=True)
    whole = tmp_path / "trusted" / COURSE
    assert (whole / "source").is_dir()
    assert (whole / "lessons" / "02-functions.ipynb").read_bytes() == (
        COURSE_CONTENT / COURSE / "lessons" / "02-functions.ipynb"
    ).read_bytes()


@pytest.mark.parametrize(
    "broken",
    [b"{not json", b"[1, 2]", json.dumps({"cells": [{"cell_type": "code", "metadata": []}]}).encode()],
    ids=["not-json", "not-an-object", "bad-metadata"],
)
def test_a_broken_notebook_is_named_and_what_learners_had_is_kept(tmp_path, broken, capsys):
    course = tmp_path / "repo" / COURSE
    shutil.copytree(COURSE_CONTENT / COURSE, course)
    dest = tmp_path / "content"
    publish([course], dest)
    given = (dest / COURSE / "lessons" / "02-functions.ipynb").read_bytes()
    changed = json.loads((course / "lessons" / "02-functions.ipynb").read_text())
    changed["cells"].append({"cell_type": "markdown", "id": "new", "metadata": {}, "source": "A new paragraph."})
    (course / "lessons" / "02-functions.ipynb").write_text(json.dumps(changed))
    (course / "lessons" / "09-broken.ipynb").write_bytes(broken)
    with pytest.raises(ContentError, match=r"intro-python/lessons/09-broken\.ipynb: not a notebook"):
        publish([course], dest)
    assert (dest / COURSE / "lessons" / "02-functions.ipynb").read_bytes() == given
    assert not (tmp_path / "content.new").exists()
    assert main([str(dest), str(course)]) == 1
    assert "09-broken.ipynb" in capsys.readouterr().err
    (course / "lessons" / "09-broken.ipynb").unlink()
    assert main([str(dest), str(course)]) == 0


def test_a_release_loses_its_hint_ladders_and_nothing_else():
    source = next((COURSE_CONTENT / COURSE / "source" / "ps02-functions").glob("*.ipynb")).read_bytes()
    out = json.loads(released(source))
    before = json.loads(source)
    assert [c["source"] for c in out["cells"]] == [c["source"] for c in before["cells"]]
    assert [c["metadata"].get("nbgrader") for c in out["cells"]] == [
        c["metadata"].get("nbgrader") for c in before["cells"]
    ]
    assert not [c for c in out["cells"] if "studio" in c["metadata"]]
    assert released(b"\x89PNG not a notebook") == b"\x89PNG not a notebook"
    assert released(b'{"cells": []}') == b'{"cells": []}'  # nothing to take out: the bytes as they came


def test_the_hints_service_finds_a_lessons_exercise_by_its_lesson(tmp_path):
    # As the hub lists the roots: the trusted copy (solutions) before the learners' (answers cleared).
    publish([COURSE_CONTENT / COURSE], tmp_path / "learners")
    index = ExerciseIndex(COURSE_CONTENT, tmp_path / "learners")
    exercise = index.find(COURSE, "02-functions", "celsius-to-fahrenheit", "02-functions")
    assert exercise is not None and len(exercise.hints) == 2 and "return" in exercise.hints[0]
    assert "celsius_to_fahrenheit(0) == 32" in exercise.visible_tests and "c * 9 / 5 + 32" in exercise.solution
    assert "NotImplementedError" in exercise.starter and "Fahrenheit" in exercise.task
    assert index.courses_with("02-functions") == [COURSE] and index.courses_with("ps02-functions") == [COURSE]
    # Only lessons course.toml lists, and nothing outside the course, whatever course.toml says.
    assert index.find(COURSE, "no-such-lesson", "celsius-to-fahrenheit") is None
    evil = tmp_path / "evil"
    (evil / "trick").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    shutil.copy(COURSE_CONTENT / COURSE / "lessons" / "02-functions.ipynb", tmp_path / "outside")
    (evil / "trick" / "course.toml").write_text('[[lessons]]\nnotebook = "../../outside/02-functions.ipynb"\n')
    assert ExerciseIndex(evil).find("trick", "02-functions", "celsius-to-fahrenheit") is None
    assert ExerciseIndex(evil).courses_with("02-functions") == []

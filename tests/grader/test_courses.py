"""The grading service's course folders, gradebooks (SQLite, and a schema per course on a real PostgreSQL) and
its queue (real worker processes; no sandbox needed: these jobs fail before running anything)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from studio_grader.courses import CourseSpace, gradebook_url, role_for, schema_for

from tests import services
from tests.conftest import COURSE_CONTENT

PS = "ps01-values-and-names"


def test_course_folder_config_and_source_from_the_course_repository(tmp_path):
    space = CourseSpace(
        tmp_path / "grading",
        "intro-python",
        content_dir=COURSE_CONTENT,
        exchange_url="http://127.0.0.1:1/services/exchange/",
    )
    folder = space.prepare()
    config = (folder / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'intro-python'" in config and "configure(c)" in config
    assert f"sqlite:///{folder / 'gradebook' / 'gradebook.db'}" in config
    source = space.source_dir(PS)
    assert source == folder / "source" / PS and (source / f"{PS}.ipynb").is_file()
    assert space.source_dir("no-such-assignment") is None


def test_an_uploaded_source_replaces_the_old_one_whole(tmp_path):
    space = CourseSpace(tmp_path, "c1")
    space.prepare()
    space.put_source("a1", {"a1.ipynb": b"{}", "data/old.csv": b"1"})
    space.put_source("a1", {"a1.ipynb": b'{"new": 1}'})
    folder = tmp_path / "c1" / "source" / "a1"
    assert sorted(p.name for p in folder.rglob("*")) == ["a1.ipynb"]
    assert not [p for p in (tmp_path / "c1" / "source").iterdir() if p.name.startswith(".")]  # nothing left over


def test_a_submission_lands_where_nbgrader_collect_puts_it(tmp_path):
    space = CourseSpace(tmp_path, "c1")
    space.prepare()
    dest = space.put_submission("a1", "s1", {"a1.ipynb": b"{}"}, "2026-11-22 10:00:00.000000 UTC")
    assert dest == tmp_path / "c1" / "submitted" / "s1" / "a1"
    assert (dest / "timestamp.txt").read_text() == "2026-11-22 10:00:00.000000 UTC"


def test_an_earlier_versions_status_file_is_taken_once_and_a_broken_one_kept_aside(tmp_path):
    space = CourseSpace(tmp_path, "c1")
    space.prepare()
    (tmp_path / "c1" / "status.json").write_text('{"a1/s1": {"state": "graded"}}')
    assert space.take_old_status() == {"a1/s1": {"state": "graded"}}
    assert space.take_old_status() == {} and (tmp_path / "c1" / "status.json.imported").is_file()
    for broken in ("{not json", "[]", '{"a1/s1": 3}'):
        (tmp_path / "c1" / "status.json").write_text(broken)
        assert space.take_old_status() == {}
        assert (tmp_path / "c1" / "status.json.broken").read_text() == broken


def test_course_folders_kept_in_the_old_place_move_whole_once(tmp_path):
    from studio_grader.service.app import course_folders

    old, new = tmp_path / "hub" / "grading", tmp_path / "grading"
    (old / "c1" / "gradebook").mkdir(parents=True)
    (old / "c1" / "gradebook" / "gradebook.db").write_bytes(b"grades")
    new.mkdir(mode=0o755)  # made empty by the hub's configuration already
    course_folders(new, old)
    assert (new / "c1" / "gradebook" / "gradebook.db").read_bytes() == b"grades" and not old.exists()
    assert oct(new.stat().st_mode & 0o777) == "0o711"
    (old / "c2").mkdir(parents=True)  # never over folders already there
    course_folders(new, old)
    assert (old / "c2").is_dir() and not (new / "c2").exists() and (new / "c1").is_dir()


def test_an_old_gradebook_moves_into_its_folder(tmp_path):
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "gradebook.db").write_bytes(b"grades")
    CourseSpace(tmp_path, "c1").prepare()
    assert (tmp_path / "c1" / "gradebook" / "gradebook.db").read_bytes() == b"grades"
    assert not (tmp_path / "c1" / "gradebook.db").exists()


def test_gradebook_urls():
    assert gradebook_url("", "c1", Path("/g/c1")) == "sqlite:////g/c1/gradebook/gradebook.db?timeout=60"
    with pytest.raises(ValueError, match="PostgreSQL or empty"):
        gradebook_url("mysql://x/y", "c1", None)
    # Course ids may hold what a schema name may not; two ids never share a schema.
    assert schema_for("intro-python") != schema_for("intro_python")
    assert all(c.isalnum() or c == "_" for c in schema_for("a.b@c-d"))


@pytest.mark.integration
def test_each_course_has_a_gradebook_of_its_own_in_one_postgresql_database(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("installing or starting PostgreSQL needs root")
    import sys

    from nbgrader.api import Gradebook

    # nbgrader migrates a server database with the alembic command, from PATH (the service has its own bin there).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    url, name = services.create_database()
    base = url.replace("postgres://", "postgresql+psycopg://")
    try:
        spaces = [CourseSpace(tmp_path, course, gradebook=base) for course in ("intro-python", "data.science")]
        for space in spaces:
            space.prepare()
        with Gradebook(spaces[0].db_url) as gb:
            gb.update_or_create_assignment("ps01")
            gb.update_or_create_student("s1")
        with Gradebook(spaces[1].db_url) as gb:
            assert [a.name for a in gb.assignments] == [] and gb.students == []
            gb.update_or_create_assignment("tables")
        with Gradebook(spaces[0].db_url) as gb:
            assert [a.name for a in gb.assignments] == ["ps01"] and [s.id for s in gb.students] == ["s1"]
        spaces[0].prepare()  # again, at the next start: nothing lost
        with Gradebook(spaces[0].db_url) as gb:
            assert [a.name for a in gb.assignments] == ["ps01"]
        # The database role may now create roles: at the next start each course gets one of its own, which takes
        # over what the course's gradebook already holds.
        services.psql(f"ALTER ROLE {name} CREATEROLE")
        for space in spaces:
            space.prepare()
        with Gradebook(spaces[0].db_url) as gb:
            assert [a.name for a in gb.assignments] == ["ps01"] and [s.id for s in gb.students] == ["s1"]
            gb.update_or_create_student("s2")
        _each_course_reaches_its_own_gradebook_only(base, spaces)
    finally:
        services.drop_database(name)
        for course in ("intro-python", "data.science"):
            services.psql(f'DROP ROLE IF EXISTS "{role_for(base, course)}"')


def _each_course_reaches_its_own_gradebook_only(base: str, spaces: list[CourseSpace]) -> None:
    """Attack (what a formgrader could do with the URL in its course's config): read or change another course's
    gradebook, or the hub's own tables in the same database. Each course's URL is its own role's."""
    from sqlalchemy import create_engine, exc, text
    from sqlalchemy.engine import make_url

    admin = create_engine(base)
    with admin.begin() as conn:  # the hub's tables live in this database too
        conn.execute(text("CREATE TABLE IF NOT EXISTS public.hub_secrets (token text)"))
        conn.execute(text("INSERT INTO public.hub_secrets VALUES ('hub-only')"))
    admin.dispose()
    mine, other = spaces
    assert make_url(mine.db_url).username == role_for(base, mine.course) != make_url(base).username
    assert make_url(mine.db_url).password != make_url(base).password
    engine = create_engine(mine.db_url)
    try:
        for sql in (
            "SELECT * FROM public.hub_secrets",
            f'SELECT * FROM "{schema_for(other.course)}".assignment',
            f'DELETE FROM "{schema_for(other.course)}".assignment',
            f'CREATE TABLE "{schema_for(other.course)}".planted (x int)',
        ):
            with engine.begin() as conn, pytest.raises(exc.ProgrammingError, match="permission denied"):
                conn.execute(text(sql))
        with engine.begin() as conn:
            assert conn.execute(text("SELECT name FROM assignment")).scalars().all() == ["ps01"]
    finally:
        engine.dispose()


def test_queue_grades_the_latest_and_one_failure_never_stops_the_rest(tmp_path):
    from studio_grader.courses import Sandboxes
    from studio_grader.service.queue import Grading

    async def scenario():
        # The exchange is down (nothing listens on port 9): every job fails at fetching, with the reason kept.
        grading = Grading(
            tmp_path,
            content_dir=COURSE_CONTENT,
            gradebook="",
            sandboxes=Sandboxes(),
            exchange_url="http://127.0.0.1:9/services/exchange/",
            workers=1,
            job_timeout=120,
            warm=False,
        )
        try:
            grading.enqueue("intro-python", PS, "s1", "sub-1")
            grading.enqueue("intro-python", PS, "s2", "sub-1")
            assert grading.enqueue("intro-python", PS, "s2", "sub-2")  # replaces s2's waiting one
            with pytest.raises(Exception, match="invalid student"):
                grading.enqueue("intro-python", PS, "bad/../id", "x")
            for _ in range(600):
                if not grading.queue and not grading.running:
                    break
                await asyncio.sleep(0.2)
            return grading.status["intro-python"], grading.progress("intro-python")
        finally:
            grading.close()

    status, progress = asyncio.run(scenario())
    # What the service did is in its table, one row per submission: a restarted service knows it.
    from studio_grader.service.ledger import Ledger, ledger_url

    ledger = Ledger(ledger_url(tmp_path, ""))
    assert ledger.load("intro-python") == status and ledger.load("other") == {}
    ledger.close()
    assert set(status) == {f"{PS}/s1", f"{PS}/s2"}
    assert status[f"{PS}/s2"]["submission"] == "sub-2"
    for entry in status.values():
        assert entry["state"] == "failed" and "exchange" in entry["reason"], entry
    assert progress["failed"] == 2 and progress["queued"] == progress["grading"] == 0
    # The gradebook knows the assignment: its source was generated before the submission was fetched.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'intro-python' / 'gradebook' / 'gradebook.db'}") as gb:
        assert gb.find_assignment(PS).name == PS


def _notebook(*cells: dict) -> bytes:
    import json

    return json.dumps(
        {
            "cells": list(cells),
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        }
    ).encode()


def _code(source: str, **nbgrader) -> dict:
    meta = {"nbgrader": {"grade": False, "solution": False, "locked": False, "schema_version": 3, **nbgrader}}
    return {
        "cell_type": "code",
        "id": nbgrader["grade_id"],
        "source": source,
        "metadata": meta,
        "outputs": [],
        "execution_count": None,
    }


def plant_code(canary: Path) -> str:
    """One line of Python that leaves ``canary`` wherever it runs (making its folder if it must)."""
    return (
        f"import os; os.makedirs({str(canary.parent)!r}, exist_ok=True); "
        f"open({str(canary)!r}, 'a').write('course code ran here\\n')\n"
    )


def autotest_source(space, canary: Path, autotests: str = "") -> None:
    """Puts ``a1`` (AUTOTEST directives whose expansion runs code that writes ``canary``, with an
    nbgrader_config.py and ``autotests`` (else an autotests.yml of its own) doing the same) and ``a2`` (a plain
    source) into ``space``."""
    plant = plant_code(canary)
    autotest = _notebook(
        _code(
            plant + "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n",
            solution=True,
            grade_id="f",
        ),
        _code("### AUTOTEST f(1)\n", grade=True, grade_id="t", points=1),
    )
    autotests = autotests or f"python3:\n  setup: {plant.strip()!r}\n"
    space.put_source(
        "a1", {"a1.ipynb": autotest, "nbgrader_config.py": plant.encode(), "autotests.yml": autotests.encode()}
    )
    plain = _notebook(
        _code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n", solution=True, grade_id="f"),
        _code("assert f(1) == 1\n", grade=True, grade_id="t", points=1),
    )
    space.put_source("a2", {"a2.ipynb": plain, "nbgrader_config.py": plant.encode()})


def generate(space, *assignments: str) -> dict[str, subprocess.CompletedProcess]:
    """nbgrader generate_assignment of each, as the grading service does it (a process of its own)."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom studio_grader import jobs\nfrom studio_grader.courses import "
        "CourseSpace\njobs.own_bin_first()\nspace = CourseSpace(Path(sys.argv[1]), 'c1')\n"
        "try:\n    jobs.prepare(space, sys.argv[2])\n    print('GENERATED')\nexcept jobs.GradingError as e:\n"
        "    print('REFUSED', e)\n"
    )
    return {
        a: subprocess.run(
            [sys.executable, "-c", script, str(space.root), a], capture_output=True, text=True, timeout=600
        )
        for a in assignments
    }


def test_a_courses_source_never_runs_on_the_trusted_side(tmp_path):
    """Attack (a course team, trusted with its course only): a source whose AUTOTEST directives nbgrader would
    expand by running its cells in a kernel on the grading service, and an nbgrader_config.py and autotests.yml
    uploaded with it. Nothing of them runs here: the expansion goes to a grading sandbox (here one that cannot
    start: the error says so; tests/docker/test_autograde.py expands in a real one); a plain source still works."""
    from studio_grader.courses import Sandboxes

    canary = tmp_path / "canary"
    space = CourseSpace(tmp_path / "grading", "c1", sandboxes=Sandboxes(image="studio-no-such-image:none"))
    space.prepare()
    autotest_source(space, canary)
    runs = generate(space, "a1", "a2")
    assert "REFUSED" in runs["a1"].stdout and "in a grading sandbox" in runs["a1"].stdout, runs["a1"]
    assert "GENERATED" in runs["a2"].stdout, runs["a2"]
    assert not canary.exists(), canary.read_text()


def test_a_restarted_service_grades_again_what_was_queued_or_grading_and_takes_in_an_old_status_file(tmp_path):
    """A status.json of an earlier version becomes rows of the service's table, once; whatever was queued or being
    graded when the service stopped is queued again; finished work is not."""
    import json

    from studio_grader.courses import Sandboxes
    from studio_grader.service.queue import Grading

    folder = tmp_path / "intro-python"
    folder.mkdir()
    old = {
        f"{PS}/s1": {"submission": "a", "state": "graded", "score": 3.0},
        f"{PS}/s2": {"submission": "b", "state": "queued"},
        f"{PS}/s3": {"submission": "c", "state": "grading"},
    }
    (folder / "status.json").write_text(json.dumps(old))

    def start() -> Grading:
        return Grading(
            tmp_path,
            content_dir=COURSE_CONTENT,
            gradebook="",
            sandboxes=Sandboxes(),
            exchange_url="http://127.0.0.1:9/services/exchange/",
            workers=1,
            job_timeout=120,
            warm=False,
        )

    for _ in range(2):  # the second start reads the table, the file is gone
        grading = start()
        try:
            assert grading.status["intro-python"] == old
            assert dict(grading.queue) == {("intro-python", PS, "s2"): "b", ("intro-python", PS, "s3"): "c"}
        finally:
            grading.close()
        assert not (folder / "status.json").exists() and (folder / "status.json.imported").is_file()


@pytest.mark.integration
def test_the_services_table_is_in_the_postgresql_database_when_the_gradebooks_are(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("installing or starting PostgreSQL needs root")
    from studio_grader.service.ledger import Ledger, ledger_url

    url, _ = services.create_database()
    base = url.replace("postgres://", "postgresql+psycopg://")
    assert ledger_url(tmp_path, base) == base
    first = Ledger(base)
    try:
        first.put("c1", "ps01", "s1", {"state": "queued", "submission": "a"})
        first.put("c1", "ps01", "s1", {"state": "graded", "submission": "a", "score": 2.5})  # replaces the row
        first.put("c2", "ps01", "s1", {"state": "failed", "reason": "x"})
    finally:
        first.close()
    again = Ledger(base)  # the service's next start
    try:
        assert again.load("c1") == {"ps01/s1": {"state": "graded", "submission": "a", "score": 2.5}}
        assert again.load("c2") == {"ps01/s1": {"state": "failed", "reason": "x"}}
    finally:
        again.close()
    assert not list(tmp_path.iterdir())  # no SQLite file beside it

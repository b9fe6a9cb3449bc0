"""A course's formgrader behind the grading service: started on first use, formgrader only, stopped when idle."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from studio_grader.accounts import ensure_course_account
from studio_grader.courses import CourseSpace
from studio_grader.formgrader import Formgraders, FormgraderUnavailable
from studio_grader.service.formgrader_proxy import formgrader_exchange_call
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import COURSE_CONTENT, ROOT

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="formgraders run under accounts only root makes")


@pytest.fixture
def courses_root():
    """Course folders where a course account can reach them (pytest's tmp_path is its owner's only)."""
    root = ROOT / "var" / "tests" / f"formgrader-{secrets.token_hex(3)}"
    root.mkdir(parents=True)
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def space_of(courses_root):
    """A course's grading folder, laid out for its own account (made here, removed after)."""
    prefix = f"ft{secrets.token_hex(3)}-"

    def make(course: str, **kwargs) -> CourseSpace:
        return CourseSpace(courses_root, course, owner=ensure_course_account(prefix, course), **kwargs)

    yield make
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            subprocess.run(["userdel", entry.pw_name], capture_output=True)


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


@needs_root
def test_started_on_first_use_serves_formgrader_only_and_stops_when_idle(space_of):
    space = space_of("intro-python", content_dir=COURSE_CONTENT)
    folder = space.prepare()

    async def scenario():
        formgraders = Formgraders("/services/grading/")
        client = AsyncHTTPClient()
        try:
            fg = await formgraders.get("intro-python", folder, space.owner)
            assert fg.url.startswith("http://127.0.0.1:")
            assert fg.url.endswith("/services/grading/formgrader/intro-python/")
            assert (await formgraders.get("intro-python", folder, space.owner)) is fg  # one per course
            # Under the course's own account (all four ids), with no supplementary group: not root's, not Docker's.
            status = status_of(fg.proc.pid)
            uid, gid = space.owner
            assert status["Uid"].split() == [str(uid)] * 4 and status["Gid"].split() == [str(gid)] * 4, status
            assert status["Groups"] == "", status
            auth = {"Authorization": f"token {fg.token}"}
            status = await client.fetch(fg.url + "formgrader/api/status", headers=auth)
            assert status.code == 200
            # Nothing but formgrader: no JupyterLab, no terminals; and nothing without its token.
            for path in ("lab", "terminals/api", "api/terminals"):
                resp = await client.fetch(fg.url + path, headers=auth, raise_error=False)
                assert resp.code == 404, path
            anonymous = await client.fetch(fg.url + "formgrader/api/status", raise_error=False, follow_redirects=False)
            assert anonymous.code in (302, 403)
            assert formgraders.stop_idle(3600) == []
            assert formgraders.stop_idle(0) == ["intro-python"] and not fg.alive()
            again = await formgraders.get("intro-python", folder, space.owner)  # the next request starts it again
            assert again is not fg and again.alive()
        finally:
            formgraders.stop()

    asyncio.run(scenario())


def test_no_formgrader_starts_without_an_account_of_its_own(tmp_path):
    """A service not run by root has no course accounts: it starts no formgrader (as its own user) and says why."""
    folder = CourseSpace(tmp_path, "intro-python").prepare()

    async def scenario():
        formgraders = Formgraders("/services/grading/")
        with pytest.raises(FormgraderUnavailable, match="account of its course's own"):
            await formgraders.get("intro-python", folder, None)
        assert formgraders.running == {}

    asyncio.run(scenario())


CANARY_CONFIG = "open({canary!r}, 'w').write('student code ran in formgrader')\n"


@needs_root
def test_formgrader_serves_its_own_course_only_and_reads_no_students_config(space_of, courses_root, monkeypatch):
    """nbgrader's start page takes ``?path=`` and re-initialises formgrader from that folder, running its
    nbgrader_config.py: a student submits such a file, a grader opens one link, and student code would run on the
    trusted side. Here the argument is refused, and the process holds nothing of the service's secrets."""
    for name in ("JUPYTERHUB_API_TOKEN", "STUDIO_GRADES_TOKEN", "STUDIO_GRADEBOOK_URL"):
        monkeypatch.setenv(name, f"secret-of-the-service-{name}")
    space = space_of("intro-python", content_dir=COURSE_CONTENT)
    folder = space.prepare()
    other = space_of("data-science").prepare()
    canary = courses_root / "canary"
    for planted in (folder / "submitted" / "student1" / "ps01", other):
        planted.mkdir(parents=True, exist_ok=True)
        (planted / "nbgrader_config.py").write_text(CANARY_CONFIG.format(canary=str(canary)))
    space.hand_over("submitted/student1/ps01")
    os.chmod(courses_root, 0o777)  # were anything of a student's to run as the course account, the canary shows it

    async def scenario():
        formgraders = Formgraders("/services/grading/", service_url="http://127.0.0.1:1/sg/")
        client = AsyncHTTPClient()
        try:
            fg = await formgraders.get("intro-python", folder, space.owner)
            auth = {"Authorization": f"token {fg.token}"}
            for path in ("submitted/student1/ps01", str(folder / "submitted/student1/ps01"), "../data-science", ""):
                resp = await client.fetch(
                    fg.url + f"formgrader/?path={path}", headers=auth, raise_error=False, follow_redirects=False
                )
                assert resp.code == 400, (path, resp.code)
            start = await client.fetch(fg.url + "formgrader/", headers=auth, follow_redirects=False, raise_error=False)
            assert start.code == 302 and start.headers["Location"].endswith("/formgrader/manage_assignments")
            page = await client.fetch(fg.url + "formgrader/manage_assignments", headers=auth)
            assert page.code == 200
            assert not canary.exists(), "a student's nbgrader_config.py ran in formgrader"
            raw = Path(f"/proc/{fg.proc.pid}/environ").read_text().split("\0")
            environ = dict(item.split("=", 1) for item in raw if "=" in item)
            assert not [k for k, v in environ.items() if "secret-of-the-service" in v], environ
            assert (
                environ["STUDIO_FORMGRADER_EXCHANGE_URL"] == "http://127.0.0.1:1/sg/formgrader-exchange/intro-python/"
            )
            assert environ["STUDIO_FORMGRADER_GRADING_URL"] == "http://127.0.0.1:1/sg/"
            assert environ["HOME"].startswith(str(courses_root / ".formgrader"))
        finally:
            formgraders.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("method", "path", "query", "allowed"),
    [
        ("GET", "api/assignments", {"course": [b"intro-python"]}, "course=intro-python"),
        ("GET", "api/assignments", {}, "course=intro-python"),
        ("GET", "api/assignments", {"course": [b"data-science"]}, None),
        ("GET", "api/assignments", {"course": [b"intro-python", b"data-science"]}, None),
        (
            "GET",
            "api/submissions",
            {"course": [b"intro-python"], "assignment": [b"ps01"]},
            "course=intro-python&assignment=ps01",
        ),
        ("GET", "api/submissions", {"mine": [b"1"]}, None),
        ("GET", "api/submissions", {"course": [b"data-science"]}, None),
        ("PUT", "api/assignments/intro-python/ps01", {}, ""),
        ("PUT", "api/assignments/data-science/ps01", {}, None),
        ("DELETE", "api/assignments/intro-python/ps01", {}, ""),
        ("GET", "api/assignments/intro-python/ps01", {}, None),  # fetching as a student: not formgrader's
        ("GET", "api/collect/intro-python/ps01", {"before_duedate": [b"1"]}, "before_duedate=1"),
        ("GET", "api/collect/data-science/ps01", {}, None),
        ("GET", "api/submissions/intro-python/ps01/student1/abc", {}, ""),
        ("GET", "api/submissions/intro-python/../data-science/student1", {}, None),
        ("GET", "api/submissions/data-science/ps01/student1/abc", {}, None),
        ("PUT", "api/feedback/intro-python/ps01/student1/abc", {}, ""),
        ("PUT", "api/feedback/data-science/ps01/student1/abc", {}, None),
        ("GET", "api/feedback/intro-python/ps01/student1/abc", {}, None),
        ("POST", "api/submissions/intro-python/ps01", {}, None),
        ("PUT", "api/source/intro-python/ps01", {}, None),
    ],
)
def test_what_a_formgrader_may_ask_of_the_exchange(method, path, query, allowed):
    assert formgrader_exchange_call("intro-python", method, path, query) == allowed


def as_account(owner: tuple[int, int], script: str) -> subprocess.CompletedProcess:
    uid, gid = owner
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
    )


@needs_root
def test_the_course_account_writes_its_shared_folders_and_no_configuration(space_of, courses_root):
    """What a formgrader's account may do in the grading folders, tried as that account: it replaces what the
    service wrote in its shared folders (autograded, feedback, the gradebook), and can neither change nor add the
    configuration the service's nbgrader reads, nor see another course's folder."""
    space = space_of("intro-python", content_dir=COURSE_CONTENT)
    folder = space.prepare()
    other = space_of("data-science")
    other.prepare()
    space.put_submission("ps01", "student1", {"ps01.ipynb": b"{}"}, "2026-12-03 10:00:00.000000 UTC")
    (folder / "autograded" / "student1" / "ps01").mkdir(parents=True)  # as the service's autograde leaves them
    (folder / "autograded" / "student1" / "ps01" / "ps01.ipynb").write_text("{}")
    (folder / "gradebook" / "gradebook.db").write_bytes(b"")
    space.hand_over("autograded/student1/ps01", "gradebook")
    uid, gid = space.owner
    assert (folder.stat().st_uid, folder.stat().st_gid, oct(folder.stat().st_mode & 0o777)) == (0, gid, "0o750")
    config = folder / "nbgrader_config.py"
    assert (config.stat().st_uid, oct(config.stat().st_mode & 0o777)) == (0, "0o640")

    allowed = as_account(
        space.owner,
        f"""set -e
        cd {folder}
        cat nbgrader_config.py > /dev/null
        rm -r autograded/student1/ps01 && mkdir autograded/student1/ps01
        echo '{{}}' > autograded/student1/ps01/a.ipynb
        mkdir -p feedback/student1/ps01 && echo x > feedback/student1/ps01/ps01.html
        echo more >> gradebook/gradebook.db && touch gradebook/gradebook.db-journal && rm gradebook/gradebook.db-journal
        rm -r submitted/student1/ps01
    """,
    )
    assert allowed.returncode == 0, allowed.stderr
    for attempt in (
        f"echo 'import os' >> {config}",
        f"mv {config} {folder}/source/",
        f"echo '{{}}' > {folder}/nbgrader_config.json",
        f"touch {folder}/status.json",
        f"ls {other.folder}",
        f"cat {other.folder}/nbgrader_config.py",
    ):
        denied = as_account(space.owner, attempt)
        assert denied.returncode != 0 and "denied" in denied.stderr, (attempt, denied)
    assert not (folder / "nbgrader_config.json").exists() and config.read_text().startswith("# Written by")


@needs_root
def test_hand_over_follows_no_link_and_stays_in_the_shared_folders(space_of, courses_root):
    """Were the course account to plant a link where the service writes, handing over what is there gives it the
    link, never what the link points at."""
    space = space_of("intro-python")
    folder = space.prepare()
    target = courses_root / "root-file"
    target.write_text("root's")
    (folder / "feedback" / "student1").mkdir(parents=True)
    (folder / "feedback" / "student1" / "ps01").symlink_to(target)
    (folder / "autograded" / "student1").mkdir(parents=True)
    (folder / "autograded" / "student1" / "link").symlink_to(courses_root)
    space.hand_over("feedback/student1/ps01", "autograded/student1")
    assert target.stat().st_uid == 0 and courses_root.stat().st_uid == 0
    assert (folder / "feedback" / "student1" / "ps01").lstat().st_uid == space.owner[0]
    for outside in ("../other", "nbgrader_config.py", "gradebook/../..", "/etc"):
        with pytest.raises(ValueError, match="not in a folder the course account writes"):
            space.hand_over(outside)
    # A linked folder on the way: nothing is handed over (nor, in a grading job, written) through it.
    (folder / "autograded" / "student2").symlink_to(courses_root)
    (courses_root / "ps01").mkdir()
    with pytest.raises(ValueError, match="autograded/student2 is a link"):
        space.hand_over("autograded/student2/ps01")
    assert (courses_root / "ps01").stat().st_uid == 0


def test_the_grading_service_starts_where_nbgrader_is_not_installed():
    """``make demo``'s environment has no nbgrader: the service (and its formgraders' module) must import without
    it; what needs nbgrader imports it when used."""
    import sys

    blocked = "import sys; sys.modules['nbgrader'] = None\n"  # any import of nbgrader now fails
    for module in ("studio_grader.service.app", "studio_grader.formgrader", "studio_grader.accounts"):
        run = subprocess.run([sys.executable, "-c", blocked + f"import {module}"], capture_output=True, text=True)
        assert run.returncode == 0, (module, run.stderr[-2000:])

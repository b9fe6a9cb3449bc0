"""``studio-autograde ASSIGNMENT``: nbgrader autograde for a whole class, in parallel, with a progress bar.

Run it where you run ``nbgrader autograde`` (the course folder). Each submission is graded by nbgrader's own
Autograde pipeline, one student per worker process, with its code executed in a grading sandbox
(``SandboxedExecute``); as many submissions are graded at once as there are workers (default: the number of
cores plus one), each worker keeping its own sandbox. One submission that fails, hangs or crashes its sandbox is
reported and the batch goes on. The progress line shows done/total, the rate, failures and flagged submissions::

    [##########..........]  31/60  2.4/s  failed 1  flagged 2  ~12 s left
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from glob import glob
from pathlib import Path

from . import readable

BAR = 20


_API = None  # each worker process's nbgrader API, made once


def _worker_init(config_dir: str, db_url: str) -> None:
    global _API
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.chdir(config_dir)
    _share_gradebook_engines()
    _check_metadata_schema_once()
    config = _load_config()
    config.CourseDirectory.db_url = db_url
    _API = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _share_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this worker process.

    nbgrader opens the gradebook about ten times per submission, each time with a new engine, and a new engine
    compiles every SQL statement again: 0.1 s of CPU per submission. The engine's connection pool is still
    emptied when nbgrader closes a gradebook (``dispose``), so no connection is held between uses.
    """
    import nbgrader.api

    create = nbgrader.api.create_engine
    engines: dict[tuple, object] = {}

    def shared(url, **kwargs):
        key = (str(url), tuple(sorted(kwargs.items())))
        if key not in engines:
            engines[key] = create(url, **kwargs)
        return engines[key]

    nbgrader.api.create_engine = shared

    # Each open also looks up every table and creates the missing ones (0.05 s of CPU): after the first time per
    # engine, one look at one table says whether the gradebook is still there (a grader may have removed it).
    from sqlalchemy import inspect

    metadata = nbgrader.api.Base.metadata
    create_all, ready = metadata.create_all, set()

    def create_all_once(bind, **kwargs):
        if id(bind) in ready and inspect(bind).has_table("assignment"):
            return
        create_all(bind=bind, **kwargs)
        ready.add(id(bind))

    metadata.create_all = create_all_once


def _check_metadata_schema_once() -> None:
    """nbgrader validates each cell's nbgrader metadata with ``jsonschema.validate``, which checks the schema itself
    again on every call (0.06 s of CPU per submission); here the validator is built once per schema. Same
    validation, same errors."""
    import types

    import jsonschema
    import nbgrader.nbgraderformat.common as common

    validators: dict[int, tuple] = {}

    def validate(instance, schema):
        cached = validators.get(id(schema))
        if cached is None or cached[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            cached = validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(cached[1].iter_errors(instance))
        if error is not None:
            raise error

    common.jsonschema = types.SimpleNamespace(validate=validate)


def _load_config():
    from nbgrader.apps import NbGrader

    app = NbGrader()
    app.load_config_file()
    return app.config


def _grade(args: tuple[str, str, bool]) -> dict:
    from .preprocessor import REPORTS

    assignment, student, force = args
    start = len(REPORTS)
    t0 = time.monotonic()
    try:
        result = _API.autograde(assignment, student, force=force, create=True)
    except Exception as e:  # noqa: BLE001 -- the batch goes on; the reason is reported
        result = {"success": False, "error": f"{type(e).__name__}: {e}", "log": ""}
    return {
        "student": student,
        "success": bool(result.get("success")),
        "seconds": time.monotonic() - t0,
        "error": (result.get("error") or "")[-2000:],
        "log": (result.get("log") or "")[-4000:],
        "reports": REPORTS[start:],
    }


def _sqlite_with_patience(db_url: str) -> str:
    """Several processes write one SQLite gradebook: let each wait for the others' short writes."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + "timeout=60"
    return db_url


def progress_line(done: int, total: int, failed: int, flagged: int, elapsed: float) -> str:
    filled = BAR * done // max(total, 1)
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else 0.0
    eta = f"  ~{left:.0f} s left" if done < total and rate > 0 else ""
    return (
        f"[{'#' * filled}{'.' * (BAR - filled)}] {done:>{len(str(total))}}/{total}  {rate:.1f}/s"
        f"  failed {failed}  flagged {flagged}{eta}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Run from the course folder.")
    parser.add_argument("assignment")
    parser.add_argument("--student", action="append", help="only these students (repeatable)")
    # One more than the cores: a worker waiting on its sandbox leaves its core to another (measured best on 2 cores).
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1, help="submissions graded at once")
    parser.add_argument("--force", action="store_true", help="grade again what was graded already")
    parser.add_argument("--report", type=Path, help="write each submission's result (JSON) to this file")
    args = parser.parse_args(argv)

    config = _load_config()
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", args.assignment)
    students = sorted(Path(p).parts[-2] for p in glob(pattern))
    if args.student:
        students = [s for s in students if s in set(args.student)]
    if not students:
        print(f"No submissions of {args.assignment} under {pattern}", file=sys.stderr)
        return 1
    # Files that are not notebooks are said so plainly, and never given to nbgrader (its answer is a traceback).
    source = Path(coursedir.format_path(coursedir.source_directory, ".", args.assignment))
    notebooks = [p.name for p in source.glob("*.ipynb")]
    unreadable = {}
    for student in students:
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student, args.assignment))
        reasons = readable.unreadable(folder, notebooks)
        if reasons:
            unreadable[student] = reasons
    students = [s for s in students if s not in unreadable]
    db_url = _sqlite_with_patience(coursedir.db_url)
    total, done, failed, flagged, results = len(students), 0, [], [], []
    tty = sys.stderr.isatty()
    t0 = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    workers = max(1, min(args.workers, total))
    with ctx.Pool(workers, initializer=_worker_init, initargs=(os.getcwd(), db_url)) as pool:
        jobs = [(args.assignment, s, args.force) for s in students]
        for result in pool.imap_unordered(_grade, jobs) if jobs else ():
            done += 1
            results.append(result)
            if not result["success"]:
                failed.append(result)
            if any(r["flags"] or r["status"] != "ok" for r in result["reports"]):
                flagged.append(result)
            line = progress_line(done, total, len(failed), len(flagged), time.monotonic() - t0)
            print(("\r" + line) if tty else line, end="" if tty and done < total else "\n", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - t0
    results += [{"student": s, "success": False, "unreadable": reasons} for s, reasons in unreadable.items()]
    if args.report:
        args.report.write_text(json.dumps(results, indent=1))
    print(
        f"graded {total - len(failed)} of {total + len(unreadable)} submissions of {args.assignment} in "
        f"{elapsed:.1f} s ({workers} at once): {len(flagged)} flagged, {len(unreadable)} unreadable, "
        f"{len(failed)} failed",
        file=sys.stderr,
    )
    for result in flagged:
        for r in result["reports"]:
            if r["flags"] or r["status"] != "ok":
                why = "; ".join([*([r["reason"]] if r["reason"] else []), *r["flags"]]) or r["status"]
                print(f"  flagged {result['student']}/{r['notebook']}: {why}", file=sys.stderr)
    for student, reasons in unreadable.items():
        for reason in reasons:
            print(f"  UNREADABLE {student}/{reason}", file=sys.stderr)
    for result in failed:
        print(f"  FAILED {result['student']}: {result['error'] or result['log'][-500:]}", file=sys.stderr)
    return 1 if failed or unreadable else 0


if __name__ == "__main__":
    sys.exit(main())

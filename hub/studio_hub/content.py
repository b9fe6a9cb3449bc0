"""Course content as each side gets it, from the course repository (``<course>/course.toml``, lessons, ``source/``).

Learners get each course without ``source/`` (nbgrader's instructor version of the assignments), hidden files and
caches, and with every other notebook as nbgrader releases an assignment: a practice exercise in a lesson (an
nbgrader answer cell, ``solution: true``) keeps its starter only (``### BEGIN SOLUTION`` … ``### END SOLUTION``
replaced by nbgrader's code stub), its test cells lose their hidden tests, and both lose their outputs. So a lesson
can carry its worked solution and be checked like an assignment, and no learner's copy has the solution. The
trusted side (the grading and hints services) gets the courses whole.

A course whose notebook cannot be read is refused with the file named, and the content already in place is kept.

    python -m studio_hub.content DEST COURSE_DIR...            the learners' copy
    python -m studio_hub.content --trusted DEST COURSE_DIR...  the trusted side's copy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from .hints.exercises import BEGIN_SOLUTION, cell_text, starter_of, without_hidden_tests, without_ladders

# nbgrader's ClearSolutions.text_stub: a written answer's placeholder
TEXT_STUB = "YOUR ANSWER HERE"


class ContentError(ValueError):
    """A course that cannot be given to learners as it is; the message names the file and why."""


def for_learners(nb: dict) -> tuple[dict, int]:
    """``nb`` as learners get it, and how many answer cells were cleared (nbgrader's ClearSolutions,
    ClearHiddenTests and ClearOutput, on its cells' metadata); hint ladders stay with the hints service."""
    without_ladders(nb)
    cleared = 0
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            raise ValueError("a cell is not an object")
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if not isinstance(meta, dict):
            raise ValueError("a cell's nbgrader metadata is not an object")
        if meta.get("solution"):
            source = cell_text(cell)
            if cell.get("cell_type") == "code":
                cell["source"] = starter_of(source)
            elif BEGIN_SOLUTION in source:
                cell["source"] = starter_of(source, (TEXT_STUB,))
            else:
                cell["source"] = TEXT_STUB
            cleared += 1
        elif meta.get("grade") and cell.get("cell_type") == "code":
            cell["source"] = without_hidden_tests(cell_text(cell))
        else:
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb, cleared


def _ignore(course: Path, trusted: bool):
    hidden = shutil.ignore_patterns(".*", "__pycache__")

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set(hidden(folder, names))
        if Path(folder) == course and not trusted:
            skip |= {"source"} & set(names)
        return skip

    return ignore


def _clear_notebooks(course: Path) -> int:
    cleared = 0
    for path in sorted(course.rglob("*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(nb, dict):
                raise ValueError("not a JSON object")
            before = json.dumps(nb)
            nb, n = for_learners(nb)
        except (OSError, ValueError, AttributeError, TypeError) as e:  # JSON and UTF-8 errors are ValueErrors
            where = f"{course.name}/{path.relative_to(course)}"
            raise ContentError(f"{where}: not a notebook learners can be given ({e})") from e
        if json.dumps(nb) != before:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        cleared += n
    return cleared


def publish(courses: list[Path], dest: Path, *, trusted: bool = False) -> int:
    """Put ``courses`` (folders with a ``course.toml``) at ``dest`` (folders 0755, files 0644), replacing what was
    there only once all of them are ready. Returns how many answer cells were cleared for learners."""
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755, parents=True)
    cleared = 0
    try:
        for course in courses:
            course = Path(course).resolve()
            if not (course / "course.toml").is_file():
                continue
            shutil.copytree(course, staging / course.name, ignore=_ignore(course, trusted))
            if not trusted:
                cleared += _clear_notebooks(staging / course.name)
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return cleared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio_hub.content", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trusted", action="store_true", help="the trusted side's copy: source/ and solutions kept")
    parser.add_argument("dest", type=Path)
    parser.add_argument("courses", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        cleared = publish(args.courses, args.dest, trusted=args.trusted)
    except ContentError as e:
        print(f"course content: {e}; {args.dest} is left as it was", file=sys.stderr)
        return 1
    if not args.trusted:
        print(f"course content for learners at {args.dest}: {cleared} practice answers cleared", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

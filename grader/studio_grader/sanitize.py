"""Before nbgrader reads a submission's nbgrader metadata, put it back as the instructor made it.

nbgrader trusts the metadata in the submitted notebook: a copy of a test cell (two cells with one grade id,
nbgrader #1083) makes its batch fail on "outdated schema", and an answer cell claiming to be a graded cell worth
100 points makes it fail on "no such grade cell" (#1941). This step runs first in nbgrader's sanitizing
pipeline (``Autograde.sanitize_preprocessors``) and, from the gradebook's copy of the source notebook:

- removes later copies of a cell whose grade id already appeared (the instructor's cell comes back from the
  gradebook in nbgrader's next steps anyway);
- resets every known cell's nbgrader flags and points to the instructor's;
- strips nbgrader metadata from cells that claim an id the instructor never made.

What it changed is noted per notebook in ``NOTES``; the sandbox's report carries it, and the notebook is
flagged in the gradebook for a person to look at.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

# (student, notebook) → what was put back, for this process's report of that notebook.
NOTES: dict[tuple[str, str], list[str]] = {}


class RestoreNbgraderMetadata(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        notes = NOTES.setdefault((info["student"], info["notebook"]), [])
        notes.clear()
        with Gradebook(info["db_url"]) as gb:
            try:
                source = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources  # not an assignment notebook nbgrader knows: it says so itself
            graded = {c.name: c.max_score for c in source.grade_cells}
            tasks = {c.name: c.max_score for c in source.task_cells}
            solutions = {c.name for c in source.solution_cells}
            locked = {c.name: c.locked for c in source.source_cells}
        seen: set[str] = set()
        kept = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            if not gid:
                kept.append(cell)
                continue
            if not isinstance(gid, str):
                notes.append("a cell's nbgrader id is not text: its nbgrader metadata was removed")
                del cell.metadata["nbgrader"]
                kept.append(cell)
                continue
            if gid in seen:
                notes.append(f"a copy of cell {gid} was removed (nbgrader keeps one cell per id)")
                continue
            seen.add(gid)
            if gid not in locked:
                if any(meta.get(k) for k in ("grade", "solution", "locked", "task")):
                    notes.append(f"cell {gid[:80]!r} claimed nbgrader metadata the assignment does not have: removed")
                del cell.metadata["nbgrader"]
                kept.append(cell)
                continue
            truth = {"grade": gid in graded, "solution": gid in solutions, "locked": locked[gid], "task": gid in tasks}
            if gid in graded or gid in tasks:
                truth["points"] = graded.get(gid, tasks.get(gid))
            changed = sorted(k for k, v in truth.items() if meta.get(k, False if k != "points" else None) != v)
            if changed:
                # "locked" alone is restored without a note: notebooks made by older nbgraders (its documentation
                # course's submissions) leave test cells unlocked, and nothing a lock changes is read before it is
                # restored here.
                if set(changed) - {"locked"}:
                    notes.append(f"cell {gid}'s nbgrader metadata was altered ({', '.join(changed)}): restored")
                meta.update(truth)
                if "points" not in truth:
                    meta.pop("points", None)
            kept.append(cell)
        nb.cells = kept
        for note in notes:
            self.log.warning("%s/%s: %s", info["student"], info["notebook"], note)
        return nb, resources

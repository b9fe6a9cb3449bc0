"""nbgrader on the trusted side (the grading service's workers, formgrader): nothing of a course's runs there.

A course team is trusted with its course only. nbgrader's ``generate_assignment`` expands AUTOTEST directives
(``InstantiateTests``) by starting a kernel and running the source notebook's cells in it, with ``autotests.yml``
from the assignment's folder: on the grading service, a course's code would run next to its tokens and every
course's gradebook. There that step is replaced by :class:`RefuseAutotests`, which runs nothing and says what to do
instead: expand the directives in one's own server, where the kernel runs in one's own sandbox
(``nbgrader generate_source_with_tests``), and release that source.

Everything else generate_assignment does (clearing solutions and hidden tests, checksums, the gradebook) reads the
notebook as data. A course's upload never holds configuration that is read here: the course's
``nbgrader_config.py`` is the service's own, written at every start, and nbgrader is run from the course folder.
"""

from __future__ import annotations

from nbgrader.preprocessors import InstantiateTests


class RefuseAutotests(InstantiateTests):
    """In place of InstantiateTests: a source with AUTOTEST directives is refused, with what to do instead."""

    def preprocess(self, nb, resources):
        for number, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "code" and self.autotest_delimiter in cell.source:
                raise ValueError(
                    f"cell {number} of {resources.get('unique_key', 'the notebook')} has {self.autotest_delimiter} "
                    "directives: expanding them runs the notebook, which the grading service never does with a "
                    "course's code. Run `nbgrader generate_source_with_tests` in your own server and release "
                    "the source it makes."
                )
        return nb, resources


# nbgrader's GenerateAssignment.preprocessors with InstantiateTests replaced; order as nbgrader's own list.
GENERATE_ASSIGNMENT = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "studio_grader.trusted.RefuseAutotests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def configure(c) -> None:
    """What a course folder on the trusted side adds to :func:`studio_grader.pipeline.configure`."""
    c.GenerateAssignment.preprocessors = list(GENERATE_ASSIGNMENT)

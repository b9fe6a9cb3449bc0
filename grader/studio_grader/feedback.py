"""Feedback that says which test failed and why, without showing hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, hidden tests and their tracebacks included:
students read the very tests that were meant to stay hidden. ``RedactHiddenTests`` (in
``GenerateFeedback.preprocessors``, before the HTML is made) changes each test cell of the feedback copy:

- the hidden region is replaced by a comment saying that hidden tests ran there;
- its outputs become one line per error: the exception and its message, and for a failure on a hidden line
  "a hidden test failed" instead of the line; printed output is dropped (a submission's hooks could have printed a
  test's source there);
- in every cell, any line of a hidden test that shows up in an output is replaced by ``[hidden test]``.

``c.RedactHiddenTests.show_hidden_tests = True`` in a course's nbgrader_config.py shows them as nbgrader does.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from studio_wire.traceback import frames
from traitlets import Bool, Unicode


class RedactHiddenTests(NbGraderPreprocessor):
    show_hidden_tests = Bool(
        False,
        help="Show hidden tests and their tracebacks in feedback (nbgrader's way). "
        "c.RedactHiddenTests.show_hidden_tests = False",
    ).tag(config=True)
    begin = Unicode("BEGIN HIDDEN TESTS", help="nbgrader's ClearHiddenTests.begin_test_delimeter").tag(config=True)
    end = Unicode("END HIDDEN TESTS", help="nbgrader's ClearHiddenTests.end_test_delimeter").tag(config=True)

    def preprocess(self, nb, resources):
        if self.show_hidden_tests:
            return nb, resources
        hidden_lines: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
                hidden_lines |= self._redact_test_cell(cell)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for output in cell.get("outputs", []):
                    _scrub(output, hidden_lines)
        return nb, resources

    def _redact_test_cell(self, cell) -> set[str]:
        lines = cell.source.split("\n")
        kept, hidden, hidden_numbers, inside = [], set(), set(), False
        for number, line in enumerate(lines, start=1):
            if self.begin in line:
                inside = True
                kept.append("# hidden tests ran here")
            elif self.end in line:
                inside = False
            elif inside:
                hidden_numbers.add(number)
                if line.strip():
                    hidden.add(line.strip())
            else:
                kept.append(line)
        cell.source = "\n".join(kept)
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue  # printed output of a test cell is not feedback
            # The test cell's own frames (not those of a student's function it called, defined in another cell).
            trace = "\n".join(output.get("traceback", []))
            failing = [line for count, line in frames(trace) if count == cell.get("execution_count")]
            where = "a hidden test failed" if failing and failing[-1] in hidden_numbers else None
            if where is None and failing and 0 < failing[-1] <= len(lines):
                where = f"failed: {lines[failing[-1] - 1].strip()}"
            message = f"{output['ename']}: {output.get('evalue', '')}".rstrip(": ")
            text = f"{message} ({where})" if where else message
            outputs.append(
                nbformat.from_dict(
                    {
                        "output_type": "error",
                        "ename": output["ename"],
                        "evalue": output.get("evalue", ""),
                        "traceback": [text],
                    }
                )
            )
        cell.outputs = outputs
        return hidden


def _scrub(output, hidden_lines: set[str]) -> None:
    def clean(text: str) -> str:
        for line in hidden_lines:
            if line in text:
                text = text.replace(line, "[hidden test]")
        return text

    if "text" in output:
        output["text"] = clean("".join(output["text"]) if isinstance(output["text"], list) else output["text"])
    if "evalue" in output:
        output["evalue"] = clean(output["evalue"])
    if "traceback" in output:
        output["traceback"] = [clean(t) for t in output["traceback"]]
    for mime, value in list(output.get("data", {}).items()):
        if isinstance(value, str):
            output["data"][mime] = clean(value)
        elif isinstance(value, list):
            output["data"][mime] = [clean(v) if isinstance(v, str) else v for v in value]

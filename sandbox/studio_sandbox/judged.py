"""What a judged test cell shows: only the trusted side's words (issue 16, item 2).

In judge mode (``studio_sandbox.worker``) a test cell runs in the judge, and its outputs are what the grader and the
student read in formgrader and feedback. The student's code cannot put text there:

- **What it prints while a test runs** is kept for the test: a test that captures output (``redirect_stdout``,
  IPython's ``capture_output``) reads it. Printed to the cell itself, it is not shown; a note of ours says how much
  there was.
- **An error** is shown with the judge's class name, the lines of the test where it happened (the test's own
  source), and a message only where the test wrote it: an ``assert`` or ``raise`` in the test's code. An exception
  raised by the student's code, or one Python raised about the student's values (``int('<their text>')``, a
  missing key), is named by its class with a message of ours. Chained exceptions and frames of other code are not
  shown.
"""

from __future__ import annotations

import dis
import sys
import traceback

CELL_FILE = "<ipython-input-"  # how IPython names a cell's code (InteractiveShell.compile)
STUDENT_RAISED = "raised by the submission's code (its message is not shown)"
NOT_SHOWN = "raised while the test ran (its message is not shown: it may quote the submission's values)"


class HeldBack:
    """What the student's code printed during one test cell, held back from the cell's outputs (the judge's
    ``Judge.printed``)."""

    def __init__(self, shown_stream: type):
        self.stream, self.characters = shown_stream, 0

    def __call__(self, text: str) -> None:
        if isinstance(sys.stdout, self.stream):  # the cell's own output: not the student's to write in
            self.characters += len(text)
        else:  # captured by the test, which reads it
            sys.stdout.write(text)

    def note(self) -> list[dict]:
        """The cell's note of what was held back (none if nothing was), and a fresh count for the next cell."""
        n, self.characters = self.characters, 0
        if not n:
            return []
        text = f"[the submission's code printed {n} characters during this test: the test can read them, feedback does not show them]\n"  # noqa: E501
        return [{"output_type": "stream", "name": "stdout", "text": text}]


def error_output(evalue: BaseException) -> dict:
    """An nbformat error output for an exception that ended a judged test cell, in the trusted side's words."""
    ename = type(evalue).__name__
    frames = [f for f in traceback.extract_tb(evalue.__traceback__) if f.filename.startswith(CELL_FILE)]
    if isinstance(evalue, SyntaxError) and str(evalue.filename or "").startswith(CELL_FILE):
        message = str(evalue)  # the test's own source does not compile
        frames = [traceback.FrameSummary(evalue.filename, evalue.lineno or 0, "", line=evalue.text or "")]
    elif hasattr(evalue, "student_type"):  # crossed from the student's process (studio_sandbox.crossing)
        message = STUDENT_RAISED
    elif _raised_by_the_test(evalue):
        message = str(evalue)
    elif type(evalue).__module__ == "studio_sandbox.crossing" or ename == "CellTimeoutError":
        message = str(evalue)  # ours
    else:
        message = NOT_SHOWN
    lines = ["Traceback (most recent call last):"]
    # As IPython's Plain mode writes a cell's frame (feedback.RedactHiddenTests finds the failing line by it).
    lines += [f"  Cell In[{_count(f.filename)}], line {f.lineno}\n    {(f.line or '').strip()}" for f in frames]
    lines.append(f"{ename}: {message}" if message else ename)
    return {"output_type": "error", "ename": ename, "evalue": message, "traceback": lines}


def _count(filename: str) -> str:
    """The execution count in IPython's name of a cell's code: ``<ipython-input-3-…>``."""
    return filename[len(CELL_FILE) :].split("-")[0]


def _raised_by_the_test(evalue: BaseException) -> bool:
    """The exception was raised by a ``raise`` or ``assert`` in a test cell's code (the innermost frame is the
    cell's, stopped at a RAISE_VARARGS): its message is the test's. Raised by a call or an operation (``int(s)``,
    ``d[k]``), its message is Python's about values that may be the student's."""
    tb = evalue.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if not code.co_filename.startswith(CELL_FILE):
        return False
    return any(i.offset == tb.tb_lasti and i.opname == "RAISE_VARARGS" for i in dis.get_instructions(code))

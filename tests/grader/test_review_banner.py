"""A flagged submission opens in formgrader with why it needs review (issue 16, item 4), rendered by formgrader's own
template through our exporter; the student's feedback does not carry the reasons. In Chromium on the real stack:
tests/docker/test_assignment_in_browser.py."""

from __future__ import annotations

import nbformat
from nbgrader.server_extensions.formgrader import handlers
from studio_grader.render import FeedbackHTMLExporter, SanitizingHTMLExporter, notebook_start
from traitlets.config import Config

REASONS = ["ps01: Python's built-in `abs` was replaced", "cell '<script>alert(1)</script>' claimed metadata"]


def notebook(reasons=None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell('<div id="studio-needs-review">a fake banner of the student\'s</div>'),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    if reasons is not None:
        nb.metadata["studio"] = {"needs_review": reasons}
    return nb


def formgrade(nb) -> str:
    c = Config()
    c.HTMLExporter.template_name = "formgrade"  # as nbgrader's formgrader sets it up
    c.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {
        "assignment_id": "ps01",
        "notebook_id": "ps01",
        "submission_id": "abc",
        "index": 0,
        "total": 1,
        "base_url": "/formgrader",
        "student": "student2",
        "last_name": None,
        "first_name": None,
        "notebook_path": "/x",
    }
    output, _ = SanitizingHTMLExporter(config=c).from_notebook_node(nb, resources=resources)
    return output


def test_a_flagged_submission_opens_with_its_reasons_before_the_students_notebook():
    page = formgrade(notebook(REASONS))
    banner_at, notebook_at = page.index('id="studio-needs-review" class="alert'), notebook_start(page)
    assert banner_at < notebook_at
    banner = page[banner_at:notebook_at]
    assert "Needs review." in banner and "built-in `abs` was replaced" in banner
    assert 'data-assignment="ps01"' in banner
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in banner
    assert "Reviewed: clear the flag" in banner  # its button (our script, before the notebook: given the nonce)


def test_an_unflagged_submission_has_no_banner_and_the_feedback_never_has_one():
    assert 'class="alert alert-warning" role="alert"' not in formgrade(notebook())
    feedback, _ = FeedbackHTMLExporter().from_notebook_node(notebook(REASONS))
    assert "built-in `abs`" not in feedback and "Needs review" not in feedback


def test_the_students_notebook_starts_where_formgraders_template_puts_it():
    """The grading service gives its nonce to scripts before this point only: a submission's script (were one to
    pass the sanitiser) never gets it."""
    from studio_grader.service.formgrader_proxy import nonce_scripts

    page = formgrade(notebook(REASONS))
    assert page[notebook_start(page) :].startswith('<div class="border-box-sizing" id="notebook"')
    assert "formgrade.js" in page[: notebook_start(page)]
    planted = page.replace('id="notebook-container">', 'id="notebook-container"><script>x()</script>', 1)
    out = nonce_scripts(planted.encode(), "N0NCE").decode()
    assert "<script>x()</script>" in out and out.count('nonce="N0NCE"') == page[: notebook_start(page)].count("<script")


def test_tests_the_course_runs_in_process_are_named_to_the_grader_but_not_in_feedback():
    nb = notebook()
    nb.metadata["studio"] = {"in_process": ["ex1-tests", "<b>ex2</b>"]}
    page = formgrade(nb)
    note_at = page.index('id="studio-in-process"')
    assert note_at < notebook_start(page)
    note = page[note_at : notebook_start(page)]
    assert "In-process tests:" in note and "ex1-tests" in note and "&lt;b&gt;ex2&lt;/b&gt;" in note
    assert "Needs review" not in page  # not a flag: the course's own choice
    feedback, _ = FeedbackHTMLExporter().from_notebook_node(nb)
    assert "In-process" not in feedback

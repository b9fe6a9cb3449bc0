"""nbgrader's autograde and feedback pipelines as Learning Studio runs them, for any nbgrader config to apply.

Read by every server's nbgrader config (studio-ext's ``etc/jupyter/nbgrader_config.py``) and by the grading
service's per-course configs, so a grader's ``nbgrader autograde`` and the service grade the same way.
"""

from __future__ import annotations

# Before nbgrader trusts a submission's nbgrader metadata, it is put back as the instructor made it (copies of test
# cells, forged points or ids would otherwise fail the batch); then nbgrader's own sanitizing steps.
SANITIZE = [
    "nbgrader.preprocessors.ClearOutput",
    "studio_grader.sanitize.RestoreNbgraderMetadata",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# nbgrader's autograde pipeline with its Execute step done in a gVisor sandbox, and what the sandbox saw (time-outs,
# crashes, tampering) flagged in the gradebook after SaveAutoGrades. Order as nbgrader's own list.
AUTOGRADE = [
    "studio_grader.preprocessor.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    "studio_grader.preprocessor.RecordGradingReport",
]
# Feedback says which test failed and its message, never a hidden test's source (per course:
# c.RedactHiddenTests.show_hidden_tests = True shows them as nbgrader does).
FEEDBACK = [
    "nbgrader.preprocessors.GetGrades",
    "studio_grader.feedback.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


# Feedback HTML: everything of the submission's through a sanitiser, and a policy that lets no script run.
FEEDBACK_EXPORTER = "studio_grader.render.FeedbackHTMLExporter"


def configure(c) -> None:
    c.Autograde.sanitize_preprocessors = list(SANITIZE)
    c.Autograde.autograde_preprocessors = list(AUTOGRADE)
    c.GenerateFeedback.preprocessors = list(FEEDBACK)
    c.GenerateFeedback.exporter_class = FEEDBACK_EXPORTER

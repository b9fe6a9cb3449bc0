"""nbgrader in Learning Studio (installed by studio-ext into <prefix>/etc/jupyter, read by every nbgrader command
and by the JupyterLab assignment list): the exchange is the hub's exchange service, not a shared folder, and
autograding executes student code only in a grading sandbox (studio_grader), never in the grader's process."""

c = get_config()  # noqa: F821 -- provided by nbgrader's config loader

for action, cls in [("exchange", "Exchange"), ("fetch_assignment", "FetchAssignment"),
                    ("fetch_feedback", "FetchFeedback"), ("release_assignment", "ReleaseAssignment"),
                    ("release_feedback", "ReleaseFeedback"), ("list", "List"), ("submit", "Submit"),
                    ("collect", "Collect")]:  # fmt: skip
    setattr(c.ExchangeFactory, action, f"studio_ext.exchange.{cls}")

# Before nbgrader trusts a submission's nbgrader metadata, it is put back as the instructor made it (copies of test
# cells, forged points or ids would otherwise fail the batch); then nbgrader's own sanitizing steps.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "studio_grader.sanitize.RestoreNbgraderMetadata",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# nbgrader's autograde pipeline with its Execute step done in a gVisor sandbox, and what the sandbox saw (time-outs,
# crashes, tampering) flagged in the gradebook after SaveAutoGrades. Order as nbgrader's own list.
c.Autograde.autograde_preprocessors = [
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
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "studio_grader.feedback.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

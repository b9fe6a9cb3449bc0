"""nbgrader in Learning Studio (installed by studio-ext into <prefix>/etc/jupyter, read by every nbgrader command
and by the JupyterLab assignment list): the exchange is the hub's exchange service, not a shared folder, and
autograding executes student code only in a grading sandbox (studio_grader), never in the grader's process."""

c = get_config()  # noqa: F821 -- provided by nbgrader's config loader

for action, cls in [
    ("exchange", "Exchange"),
    ("fetch_assignment", "FetchAssignment"),
    ("fetch_feedback", "FetchFeedback"),
    ("release_assignment", "ReleaseAssignment"),
    ("release_feedback", "ReleaseFeedback"),
    ("list", "List"),
    ("submit", "Submit"),
    ("collect", "Collect"),
]:
    setattr(c.ExchangeFactory, action, f"studio_ext.exchange.{cls}")

# Autograding and feedback as the grading service does them: student code only in a gVisor sandbox, metadata put
# back as the instructor made it, hidden tests kept out of feedback (studio_grader.pipeline says how). Where
# studio-grader is not installed (a learner's image: the sandbox side only), both refuse with the reason rather than
# run as stock nbgrader does, in the process that reads this file.
try:
    from studio_grader.pipeline import configure
except ModuleNotFoundError as e:
    if e.name != "studio_grader":
        raise
    c.Autograde.autograde_preprocessors = ["studio_ext.graded_elsewhere.GradedElsewhere"]
    c.GenerateFeedback.preprocessors = ["studio_ext.graded_elsewhere.GradedElsewhere"]
else:
    configure(c)

"""nbgrader in Learning Studio (installed by studio-ext into <prefix>/etc/jupyter, read by every nbgrader command
and by the JupyterLab assignment list): the exchange is the hub's exchange service, not a shared folder."""

c = get_config()  # noqa: F821 -- provided by nbgrader's config loader

for action, cls in [("exchange", "Exchange"), ("fetch_assignment", "FetchAssignment"),
                    ("fetch_feedback", "FetchFeedback"), ("release_assignment", "ReleaseAssignment"),
                    ("release_feedback", "ReleaseFeedback"), ("list", "List"), ("submit", "Submit"),
                    ("collect", "Collect")]:  # fmt: skip
    setattr(c.ExchangeFactory, action, f"studio_ext.exchange.{cls}")

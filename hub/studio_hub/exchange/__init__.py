"""The assignment exchange: a hub-managed service that replaces nbgrader's shared exchange folder.

``store`` keeps releases, every submission and feedback on the service's own disk; ``policy`` says who may do what
by hub groups; ``service`` is the HTTP API (JupyterHub tokens). The client side, an nbgrader ``ExchangeFactory``
plugin, is ``studio_ext.exchange`` (in the learner and grader images).
"""

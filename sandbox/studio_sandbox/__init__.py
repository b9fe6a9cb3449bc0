"""What runs inside a grading sandbox (a gVisor container of the learner image), and nothing of the trusted side.

``worker`` is the sandbox's fork-server (``python -m studio_sandbox.worker``); ``executor`` runs a submission's
cells with IPython; ``crossing`` and ``judged`` are the judge (test cells in a process of their own; docs/judge.md);
``autotests`` expands AUTOTEST directives (``python -m studio_sandbox.autotests``). The grader's side, which starts
these sandboxes and talks to them, is ``studio_grader``.
"""

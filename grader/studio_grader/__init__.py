"""Sandboxed autograding for nbgrader, from the trusted side: student code runs only inside gVisor sandboxes.

``sandbox`` starts and talks to sandboxes (which run ``studio_sandbox``, a package of their own); ``preprocessor``
is nbgrader's Execute step done in a sandbox; ``autograde`` grades a batch in parallel; ``service`` is the grading
service.
"""

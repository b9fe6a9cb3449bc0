"""Sandboxed autograding for nbgrader: student code runs only inside gVisor sandboxes.

``worker`` and ``executor`` run inside the sandbox; ``sandbox`` starts and talks to sandboxes from the grader's
side; ``preprocessor`` is nbgrader's Execute step done in a sandbox; ``autograde`` grades a batch in parallel.
"""

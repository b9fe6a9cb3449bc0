"""Learning events as JSON Schemas: what a learner's server reports (``FROM_LEARNER``, checked by the server's
extension and again by the hints service, which trusts nothing a learner's container sends) and what the hints
service forwards to the portal (``TO_PORTAL``, checked by the portal). An event that does not match is refused
whole, with the reason ``problem`` gives; nothing of it is kept."""

from __future__ import annotations

from .schema import problem  # noqa: F401 -- problem(SCHEMA, value), for the parts that check

# What a learner's server reports: "execute" a cell ran (an answer cell's runs name their exercise), "check" an
# exercise's visible test cell ran (``ok``: it passed), hints asked and shown, nbgrader validations and submissions.
# The portal has one more of its own ("graded", from the grading service).
KINDS = ("execute", "check", "hint-asked", "hint-shown", "validate", "submit")
NAME_LENGTH = 100  # course, assignment, notebook, exercise and error names
CODE_LENGTH = 20_000  # the code of a run, kept only where a course says so

_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH}
_DETAILS = {
    "course": _NAME,
    "assignment": _NAME,
    "notebook": _NAME,
    "exercise": _NAME,
    "ename": _NAME,
    "ok": {"type": ["boolean", "integer"]},
    "rung": {"type": "integer", "minimum": 0, "maximum": 100},
    "code_hash": {"type": "string", "pattern": "^[0-9a-f]{8,64}$"},
    "code": {"type": "string"},
}

FROM_LEARNER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "a learning event from a learner's server",
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": list(KINDS)},
        "path": {"type": "string", "maxLength": 1000},  # the notebook, relative to the learner's home
        "time": {"type": "number"},
        **_DETAILS,
    },
}

TO_PORTAL = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "a learning event from the hints service",
    "type": "object",
    "required": ["id", "kind", "student", "course", "time"],
    "properties": {
        "id": {"type": ["string", "integer"], "minLength": 1, "maxLength": 150},
        "kind": {"enum": list(KINDS)},
        "student": {"type": "string", "minLength": 1, "maxLength": 150},
        "time": {"type": "number"},
        **_DETAILS,
        "course": {"type": "string", "minLength": 1, "maxLength": 150},
    },
}

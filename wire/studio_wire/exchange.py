"""What is sent to the exchange and the grading service, as JSON Schemas: an instructor's release, a learner's
submission, a grader's feedback, an assignment's source for the grading service, and the exchange's notice of a new
submission. Files travel as ``{"files": {path: base64}}``; the paths are checked where they are written (the
exchange's store) and the contents are decoded there, with a reason for each that is not base64."""

from __future__ import annotations

from .schema import problem  # noqa: F401 -- problem(SCHEMA, value), for the parts that check

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
FILES = {"type": "object", "additionalProperties": {"type": "string"}, "description": "{path: base64}"}
_ID = {"type": "string", "minLength": 1, "maxLength": 100}


def _files_only(title: str) -> dict:
    return {
        "$schema": _DRAFT,
        "title": title,
        "type": "object",
        "required": ["files"],
        "additionalProperties": False,
        "properties": {"files": FILES},
    }


RELEASE = {
    "$schema": _DRAFT,
    "title": "a release",
    "type": "object",
    "required": ["files"],
    "additionalProperties": False,
    "properties": {
        "files": FILES,
        "duedate": {"type": ["string", "null"], "description": "ISO 8601 with a time zone; null: none"},
        "force": {"type": "boolean", "description": "replace a release of the same name"},
    },
}
SUBMISSION = _files_only("a submission")
FEEDBACK = _files_only("feedback")
SOURCE = _files_only("an assignment's source")
SUBMITTED = {
    "$schema": _DRAFT,
    "title": "a new submission's notice",
    "type": "object",
    "required": ["course_id", "assignment_id", "student_id", "id"],
    "additionalProperties": False,
    "properties": {"course_id": _ID, "assignment_id": _ID, "student_id": _ID, "id": _ID},
}

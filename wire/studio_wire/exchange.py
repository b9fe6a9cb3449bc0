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

# What the exchange tells the portal (PUT <portal>/api/assignments/, the grades token): states, not events, so a record
# sent twice, or a newer one replacing an older in the outbox, leaves the portal right.
_WHEN = {"type": ["string", "null"], "maxLength": 40, "description": "ISO 8601; null: not yet"}
ASSIGNMENT_RECORD = {
    "type": "object",
    "required": ["kind", "course", "assignment", "released"],
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "assignment"},
        "course": _ID,
        "assignment": _ID,
        "released": {"type": "boolean"},
        "due": _WHEN,
        "released_at": _WHEN,
        "notebooks": {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 200}},
    },
}
WORK_RECORD = {
    "type": "object",
    "required": ["kind", "course", "assignment", "student", "submissions"],
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "work"},
        "course": _ID,
        "assignment": _ID,
        "student": _ID,
        "fetched_at": _WHEN,
        "submissions": {"type": "integer", "minimum": 0},
        "submission": {"type": ["string", "null"], "maxLength": 100},
        "submitted": _WHEN,
        "late": {"type": "boolean"},
        "feedback": {"type": "boolean"},
    },
}
RECORDS = {
    "$schema": _DRAFT,
    "title": "the exchange's records for the portal",
    "type": "object",
    "required": ["records"],
    "additionalProperties": False,
    "properties": {
        "records": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["kind"],
                "properties": {"kind": {"enum": ["assignment", "work"]}},
                # By its kind, so that what is wrong is said of the record's own fields.
                "allOf": [
                    {"if": {"properties": {"kind": {"const": kind}}}, "then": schema}
                    for kind, schema in (("assignment", ASSIGNMENT_RECORD), ("work", WORK_RECORD))
                ],
            },
        }
    },
}

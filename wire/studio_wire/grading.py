"""What a grading sandbox answers for one notebook, as a JSON Schema: the grader's side checks every answer with it
before anything of it reaches nbgrader (an answer that is not one is graded as a crash and flagged, with the reason),
since the outputs in it come from a process the student's code ran in."""

from __future__ import annotations

from .schema import problem  # noqa: F401 -- problem(SCHEMA, value), for the parts that check

_TEXT = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}  # nbformat's multiline
_BUNDLE = {"type": "object", "additionalProperties": {"anyOf": [_TEXT, {"type": ["object", "array"]}]}}
_COUNT = {"type": ["integer", "null"]}

OUTPUT = {
    "type": "object",
    "required": ["output_type"],
    "oneOf": [
        {
            "properties": {"output_type": {"const": "stream"}, "name": {"enum": ["stdout", "stderr"]}, "text": _TEXT},
            "required": ["name", "text"],
        },
        {
            "properties": {"output_type": {"const": "display_data"}, "data": _BUNDLE, "metadata": {"type": "object"}},
            "required": ["data"],
        },
        {
            "properties": {
                "output_type": {"const": "execute_result"},
                "data": _BUNDLE,
                "metadata": {"type": "object"},
                "execution_count": _COUNT,
            },
            "required": ["data"],
        },
        {
            "properties": {
                "output_type": {"const": "error"},
                "ename": {"type": "string"},
                "evalue": {"type": "string"},
                "traceback": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["ename", "evalue", "traceback"],
        },
    ],
}

RESULT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "a grading sandbox's answer",
    "type": "object",
    "required": ["status", "cells", "flags"],
    "properties": {
        "id": {"type": ["string", "null"]},
        "status": {"enum": ["ok", "timeout", "crashed", "error"]},
        "reason": {"type": "string"},
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["outputs"],
                "properties": {
                    "outputs": {"type": "array", "items": OUTPUT},
                    "execution_count": _COUNT,
                    "seconds": {"type": "number"},
                },
            },
        },
        "flags": {"type": "array", "items": {"type": "string"}},
        "clean": {"type": "boolean"},
        "seconds": {"type": "number"},
        "cpu_seconds": {"type": "number"},
    },
}

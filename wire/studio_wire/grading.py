"""A grading sandbox's job and answer for one notebook, as JSON Schemas.

``JOB``: what is run (the cells, which are tests, each cell's time limit, the limits of the job's processes); the
grading service checks a grader's own autograde's job with it before it runs anything, and every job is checked
before it goes into a sandbox (studio_grader.sandbox). ``EXPANSION``: a notebook whose AUTOTEST directives are
expanded in a sandbox. ``RESULT``: what the sandbox answers; the grader's side checks every answer with it before
anything of it reaches nbgrader (an answer that is not one is graded as a crash and flagged, with the reason),
since the outputs in it come from a process the student's code ran in."""

from __future__ import annotations

from .schema import problem  # noqa: F401 -- problem(SCHEMA, value), for the parts that check

_TEXT = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}  # nbformat's multiline
_BUNDLE = {"type": "object", "additionalProperties": {"anyOf": [_TEXT, {"type": ["object", "array"]}]}}
_COUNT = {"type": ["integer", "null"]}

_SECONDS = {"type": "number", "exclusiveMinimum": 0}

JOB = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "a grading job",
    "type": "object",
    "required": ["cells"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": ["string", "null"], "maxLength": 200},
        "cells": {
            "type": "array",
            "maxItems": 2000,
            "items": {
                "type": "object",
                "required": ["source"],
                "additionalProperties": False,
                "properties": {
                    "source": {"type": "string"},
                    "grade": {"type": "boolean", "description": "a test cell (run by the judge when there is one)"},
                    "setup": {"type": "boolean", "description": "the instructor's read-only cell: the judge runs it"},
                    "timeout": {**_SECONDS, "description": "this cell's own limit (calibrated)"},
                    "in_process": {"type": "boolean", "description": "a test the course runs in the student's process"},
                    "grade_id": {"type": "string"},
                },
            },
        },
        "timeout": {**_SECONDS, "description": "seconds per cell"},
        "job_timeout": {**_SECONDS, "description": "seconds for the whole notebook"},
        "judge": {"type": "boolean"},
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "memory_mib": {"type": "integer", "minimum": 16},
                "cpu_seconds": {"type": "number", "minimum": 1},
                "processes": {"type": "integer", "minimum": 1},
            },
        },
    },
}

EXPANSION = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an AUTOTEST expansion",
    "type": "object",
    "required": ["notebook"],
    "additionalProperties": False,
    "properties": {
        "notebook": {"type": "string", "description": "the source notebook, as text"},
        "autotests": {"type": ["string", "null"], "description": "the course's autotests.yml, as text"},
    },
}

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

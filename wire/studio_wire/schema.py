"""Checking a value against one of our JSON Schemas with jsonschema, and saying what is wrong in one sentence."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

_validators: dict[int, Draft202012Validator] = {}  # by the schema's id: ours are module constants, never freed


def problem(schema: dict, value) -> str | None:
    """What is wrong with ``value`` as an instance of ``schema`` (a module-level one, with a ``title``), at most
    300 characters; None: it is one."""
    validator = _validators.get(id(schema))
    if validator is None:
        Draft202012Validator.check_schema(schema)
        validator = _validators[id(schema)] = Draft202012Validator(schema)
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{schema['title']}: {where + ': ' if where else ''}{error.message}"[:300]

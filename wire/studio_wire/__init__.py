"""Learning Studio's wire formats, defined once: ``events`` (JSON Schemas of learning events, checked with
jsonschema at each boundary) and ``traceback`` (how IPython names a cell in a traceback)."""

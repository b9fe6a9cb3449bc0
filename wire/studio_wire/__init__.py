"""Learning Studio's wire formats, defined once: ``events`` (JSON Schemas of learning events, checked with
jsonschema at each boundary), ``traceback`` (how IPython names a cell in a traceback) and ``http`` (the one HTTP
client every part calls the others with)."""

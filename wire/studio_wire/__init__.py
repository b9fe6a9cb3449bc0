"""Learning Studio's wire formats, defined once: ``events`` (JSON Schemas of learning events, checked with
jsonschema at each boundary), ``grading`` (a sandbox's jobs and answers), ``exchange`` (what is sent to the exchange
and the grading service), ``traceback`` (how IPython names a cell in a traceback), ``http`` (the one HTTP
client every part calls the others with) and ``outbox`` (the one shape of every background sender)."""

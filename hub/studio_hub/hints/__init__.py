"""The hints service: next-step hints for a student's exercise, from the trusted side of the hub.

It holds what learners never see (the course source with solutions and hidden tests, model keys), authorizes by
hub groups, rate-limits and caches, picks the rung of the hint ladder, asks a provider (``ladder``, ``tutor``,
``llm``), checks every hint against the solution before it is shown, logs it, and queues learning events.
"""

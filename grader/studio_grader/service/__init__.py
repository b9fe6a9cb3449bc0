"""The grading service (hub-managed, ``python -m studio_grader.service``): every submission graded as it arrives.

The service: :mod:`.app`; its API: :mod:`.handlers`; the queue: :mod:`.queue`; formgrader per course:
:mod:`.formgrader_proxy`; the exchange and portal clients: :mod:`.clients`.
"""

"""nbgrader's autograde and feedback where studio-grader is not installed: a learner's server, whose image carries
the grading sandbox (studio-sandbox) but nothing of the trusted side. There they refuse, with the reason, rather
than run as stock nbgrader would (etc/jupyter/nbgrader_config.py chooses this only when studio_grader is absent)."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

REASON = (
    "autograding and feedback run in Learning Studio's grading service (studio-grader), which is not installed "
    "here: submit your work with the Assignment List and it is graded there"
)


class GradedElsewhere(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        raise RuntimeError(REASON)

"""Hint providers, chosen with ``c.HintsService.provider_class`` (a ``Type``): ladder, tutor (default), llm.

Each answers one rung for one attempt, or raises ``ProviderError``; the service then asks the tutor, which needs
nothing but the attempt and the course source, and is always there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from traitlets.config import LoggingConfigurable

from . import tutor
from .exercises import Exercise


class ProviderError(RuntimeError):
    """The provider has no hint for this (not configured, out of budget, failed): the tutor answers instead."""


@dataclass
class HintRequest:
    exercise: Exercise
    attempt: tutor.Attempt
    rung: int
    student: str
    shown: list[str] = field(default_factory=list)  # the hints this student was shown on it so far, in order


class HintProvider(LoggingConfigurable):
    """One way of finding the next hint."""

    name = "base"

    def rungs(self, exercise: Exercise) -> int:
        """How many rungs this exercise's ladder has with this provider."""
        return max(1, len(exercise.hints))

    async def hint(self, request: HintRequest) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class LadderProvider(HintProvider):
    """The instructor's hints from the answer cell's ``metadata.studio.hints``, in their order."""

    name = "ladder"

    async def hint(self, request: HintRequest) -> str:
        hints = request.exercise.hints
        if not hints:
            raise ProviderError(f"{request.exercise.key} has no hints in its metadata")
        return hints[min(request.rung, len(hints)) - 1]


class TutorProvider(HintProvider):
    """Deterministic and offline: explains this attempt's exception, the visible assertion it failed, and mistakes
    found in its code (see ``tutor``). Rung 1 names the problem, rung 2 says where and what to look at; further
    rungs add the instructor's ladder, one hint per rung."""

    name = "tutor"

    def rungs(self, exercise: Exercise) -> int:
        return 2 + len(exercise.hints)

    async def hint(self, request: HintRequest) -> str:
        text = tutor.hint(request.attempt, request.exercise.solution, min(request.rung, 2))
        extra = request.rung - 2
        if extra > 0 and request.exercise.hints:
            text += f"\n\nFrom your instructor: {request.exercise.hints[min(extra, len(request.exercise.hints)) - 1]}"
        return text

"""Guardrails every hint passes before a student sees it: short code only, and nothing of the solution.

A hint's code is what it shows as code: fenced blocks and inline spans. A fenced block longer than
``max_code_lines`` is withheld. Then the hint's code is compared with the solution, token by token: the share of
the solution's token trigrams (beyond what the starter code already shows) that the hint contains. Code the
student may see anyway (their own code, the task, the visible tests, the instructor's hints up to this rung) is left
out of that count, so quoting a student's line back to them or repeating the instructor's hint is never a leak.
And a whole statement of the solution (5 tokens or more) the student has not seen is never written out, however
small a share of the solution it is.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|$)", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
SKIP = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.ENCODING,
}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    overlap: float = 0.0


def tokens(code: str) -> list[str]:
    """Python tokens of ``code`` (comments and layout dropped); a rough split when it does not tokenize."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type not in SKIP:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = re.findall(r"\w+|[^\w\s]", code)
    return out


def trigrams(toks: list[str]) -> set[tuple[str, ...]]:
    if len(toks) < 3:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i : i + 3]) for i in range(len(toks) - 2)}


def code_in(text: str) -> tuple[list[str], list[str]]:
    """(fenced blocks, inline spans) of a Markdown hint."""
    blocks = FENCE.findall(text)
    rest = FENCE.sub(" ", text)
    return blocks, INLINE.findall(rest)


class Guard:
    def __init__(self, *, max_code_lines: int = 3, max_overlap: float = 0.5):
        self.max_code_lines = max_code_lines
        self.max_overlap = max_overlap

    def check(self, hint: str, *, solution: str, starter: str = "", seen: list[str] = ()) -> Verdict:
        blocks, spans = code_in(hint)
        for block in blocks:
            lines = [x for x in block.splitlines() if x.strip()]
            if len(lines) > self.max_code_lines:
                return Verdict(False, f"a code block of {len(lines)} lines (at most {self.max_code_lines})")
        secret = trigrams(tokens(solution)) - trigrams(tokens(starter))
        if not secret:
            return Verdict(True)
        known: set[tuple[str, ...]] = set()
        for text in seen:
            known |= trigrams(tokens(text))
            for code in [*code_in(text)[0], *code_in(text)[1]]:
                known |= trigrams(tokens(code))
        shown: set[tuple[str, ...]] = set()
        for code in [*blocks, *spans]:
            shown |= trigrams(tokens(code)) - known
        # Code written without backticks counts too: a model may paste a solution as plain text.
        shown |= {g for g in trigrams(tokens(FENCE.sub(" ", hint))) if g in secret} - known
        overlap = len(shown & secret) / len(secret)
        if overlap >= self.max_overlap:
            return Verdict(False, f"{overlap:.0%} of the solution's code", overlap)
        line = self._whole_line(hint, solution, starter, seen)
        if line:
            return Verdict(False, f"a line of the solution ({line})", overlap)
        return Verdict(True, "", overlap)

    @staticmethod
    def _whole_line(hint: str, solution: str, starter: str, seen) -> str:
        """A whole statement of the solution (5 tokens or more) that the student has not seen, written out."""
        said = " ".join(tokens(hint))
        known = {" ".join(tokens(x)) for text in [starter, *seen] for x in text.splitlines()}
        for line in solution.splitlines():
            toks = tokens(line.strip())
            if len(toks) >= 5 and " ".join(toks) not in known and f" {' '.join(toks)} " in f" {said} ":
                return line.strip()
        return ""

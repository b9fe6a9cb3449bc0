"""Peer code review: a student shares a notebook they submitted (read with nbformat; outputs dropped, since they
may hold any HTML or script), peers of the course comment on its cells, the course team moderates."""

from __future__ import annotations

import json
import time

import nbformat
from django.db import transaction
from django.urls import reverse

from studio_portal.grades.models import Grade
from studio_portal.notifications.models import Notification
from studio_portal.notifications.services import notify

from . import markup
from .models import ReviewComment, ReviewRequest
from .services import CommunityError, _members, _text

MAX_NOTEBOOK = 2 * 2**20  # bytes
MAX_FORM = 64 * 2**10  # the rest of the upload's form (assignment, note, token) and multipart's framing
MAX_CELLS = 300
MAX_CELL = 100_000  # characters of one cell's source: each is highlighted or rendered, in time linear in it
RENDER_SECONDS = 5.0  # rendering one notebook may take this long, in all


def too_large(size: int) -> str:
    return f"The notebook is {size // 1024} KiB; at most {MAX_NOTEBOOK // 2**20} MiB fit."


def review_url(review: ReviewRequest) -> str:
    return reverse("review", args=[review.course.slug, review.pk])


def read_notebook(raw: bytes) -> list[dict]:
    """The cells of an uploaded notebook, each rendered once: code highlighted, Markdown sanitized."""
    if len(raw) > MAX_NOTEBOOK:
        raise CommunityError(too_large(len(raw)))
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        nbformat.ValidationError,
        nbformat.reader.NotJSONError,
        AttributeError,
        KeyError,
        TypeError,
        ValueError,
    ) as e:
        raise CommunityError(f"That file is not a readable Jupyter notebook ({type(e).__name__}).") from None
    cells = [c for c in nb.cells if c.cell_type in ("code", "markdown")]
    if not cells:
        raise CommunityError("The notebook has no code or Markdown cells.")
    if len(cells) > MAX_CELLS:
        raise CommunityError(f"The notebook has {len(cells)} cells; at most {MAX_CELLS} fit.")
    out = []
    deadline = time.monotonic() + RENDER_SECONDS
    for number, c in enumerate(cells, start=1):
        source = c.source if isinstance(c.source, str) else "".join(c.source)
        if len(source) > MAX_CELL:
            raise CommunityError(f"Cell {number} has {len(source)} characters; at most {MAX_CELL} fit in a review.")
        shown = f"```python\n{source}\n```" if c.cell_type == "code" else source
        out.append({"type": c.cell_type, "source": source, "html": markup.render(shown).html})
        if time.monotonic() > deadline:
            raise CommunityError(
                f"The notebook takes too long to show (over {RENDER_SECONDS:.0f} s by cell "
                f"{number}): share a shorter one."
            )
    return out


@transaction.atomic
def review_request_create(*, course, author, assignment: str, raw: bytes, note: str = "") -> ReviewRequest:
    """Only for a notebook of an assignment the author submitted (the grading service has reported it)."""
    if not Grade.objects.filter(course=course, student=author, assignment=assignment).exists():
        raise CommunityError("Ask for a review of an assignment you have submitted.")
    return ReviewRequest.objects.create(
        course=course, author=author, assignment=assignment, cells=read_notebook(raw), note=(note or "").strip()[:2000]
    )


@transaction.atomic
def review_comment_create(*, review: ReviewRequest, author, cell: int, body: str) -> ReviewComment:
    if review.closed:
        raise CommunityError("This review is closed.")
    if not 0 <= cell < len(review.cells):
        raise CommunityError(f"The notebook has no cell {cell + 1}.")
    body = _text(body, "comment", 5000)
    rendered = markup.render(body, set(_members(review.course, markup.mentions(body))))
    comment = ReviewComment.objects.create(request=review, cell=cell, author=author, body=body, html=rendered.html)
    if review.author_id != author.pk:
        notify(
            users=[review.author],
            kind=Notification.Kind.REVIEW,
            url=f"{review_url(review)}#cell-{cell}",
            text=f"{author.username} commented on cell {cell + 1} of your {review.assignment}",
        )
    return comment

"""How IPython names a cell's frame in a traceback: ipykernel and IPython 8+ write ``Cell In[3], line 2``, a bare
IPython shell ``<ipython-input-3-ab12>:2``; what reads a traceback (feedback, hints) finds cells by this."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython's colours
FRAME = re.compile(r"Cell In\s*\[(\d+)\],\s*line\s*(\d+)|<ipython-input-(\d+)-[0-9a-f]*>:(\d+)")


def frames(text: str) -> list[tuple[int, int]]:
    """Each cell frame in ``text`` (colours or not), in order: (execution count, line number)."""
    return [(int(a), int(b)) if a else (int(c), int(d)) for a, b, c, d in FRAME.findall(ANSI.sub("", text))]

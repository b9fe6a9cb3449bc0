"""A submitted file that is not a notebook we can read, said plainly ("not a notebook we can read: ..."), before
nbgrader meets it with a traceback: an empty file, random bytes, JSON that is broken or not a notebook, or a
file that claims a notebook format it is not in (a real nbformat 3 notebook is read, converted, as nbgrader does).
"""

from __future__ import annotations

import json
from pathlib import Path

NOT_READABLE = "not a notebook we can read"


def why_unreadable(data: bytes) -> str | None:
    """Why ``data`` is not a notebook nbgrader can grade; None if it is one."""
    import nbformat

    if not data.strip():
        return "the file is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not text (a notebook is a JSON text file)"
    try:
        nb = json.loads(text)
    except ValueError as e:
        where = f" at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        return f"it is not valid JSON ({getattr(e, 'msg', str(e))}{where})"
    if not isinstance(nb, dict):
        return "its JSON is not a notebook (no object at the top)"
    major = nb.get("nbformat")
    if type(major) is not int:
        return "it does not say which notebook format it is (no nbformat number)"
    if major not in (3, 4):
        return f"it says it is nbformat {major}; nbformat 4 is graded, and 3 converted (open it in JupyterLab, save it)"
    if major == 4 and not isinstance(nb.get("cells"), list):
        return "it has no list of cells"
    if major == 3 and not isinstance(nb.get("worksheets"), list):
        return "it says it is nbformat 3 but is not one (no worksheets): open it in JupyterLab and save it"
    try:
        nbformat.reads(text, as_version=4)  # what nbgrader does: an nbformat 3 notebook is converted
    except Exception as e:  # noqa: BLE001 -- whatever nbformat objects to, in its words, shortened
        return f"nbformat cannot read it ({type(e).__name__}: {str(e)[:300]})"
    return None


def unreadable(folder: Path, names: list[str]) -> list[str]:
    """One reason per notebook of ``names`` in ``folder`` that is there and unreadable:
    "<name>: not a notebook we can read: <why>". A missing notebook is not among them (nbgrader scores it 0)."""
    reasons = []
    for name in sorted(names):
        path = folder / name
        if path.is_file() and not path.is_symlink():
            why = why_unreadable(path.read_bytes())
            if why:
                reasons.append(f"{name}: {NOT_READABLE}: {why}")
    return reasons

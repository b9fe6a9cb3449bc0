"""Shared test set-up: the portal's data folder, the repository paths, and helpers for the real stack."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The portal's settings read this at import; keep tests away from a developer's var/portal.
os.environ.setdefault("STUDIO_PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="studio-portal-test-"))
sys.path.insert(0, str(ROOT / "scripts"))

COURSE_CONTENT = ROOT / "course-content"
FIXTURE_CONTENT = Path(__file__).resolve().parent / "fixtures" / "content"

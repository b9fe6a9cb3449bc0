"""docs/configuration.md is generated from the options' help (scripts/config_reference.py) and kept current."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_configuration_reference_is_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_reference_lists_every_services_options():
    text = (ROOT / "docs" / "configuration.md").read_text()
    from studio_grader.service.app import GradingService

    from studio_hub.hints.app import HintsService

    for cls in (GradingService, HintsService):
        for name in cls.class_own_traits(config=True):
            assert f"| `{name}` |" in text, f"{cls.__name__}.{name} is not in docs/configuration.md"

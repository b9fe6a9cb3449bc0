"""The grading benchmark runs end to end, small: stock nbgrader and ours (studio-autograde, the service's warm
and strict workers) grade the same submissions of each kind plus the cheat suite in one run, with honest scores
identical every way (the script itself refuses to go on otherwise), no cheat with points or a leaked hidden test
under ours, and every figure printed in its ``name: value unit`` form. No figure is asserted against a target: the
ratios are what ``python -m tests.bench.grading`` prints on a quiet machine (docs/judge.md)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.docker

FIGURES = (
    "stock_wall",
    "ours_wall",
    "service_warm_wall",
    "service_strict_wall",
    "service_cpu_per_submission_p50",
    "service_cpu_per_submission_p95",
    "stock_cpu_per_submission_p95",
    "cold_ratio",
    "strict_ratio",
)


def test_the_grading_benchmark_grades_every_way_alike_and_prints_its_figures(learner_image):
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.grading", "--submissions", "8", "--timeout", "3", "--image", learner_image],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    assert "honest_scores: identical (8 submissions, each way)" in out, out
    for name in FIGURES:
        assert re.search(rf"^{name}: [0-9.]+ \S+", out, re.M), (name, out)
    for way in ("ours", "service"):
        assert re.search(rf"^cheats_with_points_{way}: 0 of [1-9]", out, re.M), out
        assert re.search(rf"^cheats_leaking_hidden_tests_{way}: 0 of [1-9]", out, re.M), out
    # Stock nbgrader, on the same cheats in the same run, gives some of them points: the suite tests something.
    stock = re.search(r"^cheats_with_points_stock: (\d+) of", out, re.M)
    assert stock and int(stock.group(1)) > 0, out
    assert re.search(r"^RESULT: [0-9.]+x stock nbgrader autograde throughput", out, re.M), out

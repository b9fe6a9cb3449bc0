"""Autograding throughput, side by side in one run: stock nbgrader vs ours, on the same generated submissions.

    python -m tests.bench.grading [--submissions 60] [--workers N] [--timeout 30] [--no-cheats]

Stock: ``nbgrader autograde`` as shipped, serial, each notebook executed by a local kernel on this machine (the
benchmark's own generated submissions only), with nbgrader's fixed time limit per cell. Ours: ``studio-autograde``
(nbgrader's pipeline, one student per worker process, every notebook executed in a gVisor sandbox, pooled mode,
test cells in the judge, each cell's limit calibrated from the instructor's solution), from a cold start; and the
grading service's workers (studio_grader.jobs) once started and warm, as they wait for submissions, in pooled mode
and in strict mode (a fresh sandbox per submission). All grade copies of one set of submissions of the real
course's ps01 (right, wrong, raising, looping) plus the cheat suite (tests/grading_cases.CHEATS): honest work must
score the same every way; for the cheats, how many got points and how many leaked a hidden test into an output
the student sees, under each. Per-submission times and CPU seconds (of the code's processes: stock's kernels, our
sandboxes' job and judge) come from nbgrader's API for stock (one student at a time, as its command does) and from
our workers. Needs root (Docker) and the learner image (images/build.sh learner).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.grading_cases import ASSIGNMENT, CHEATS, ENV, leaked, make_course, nbgrader, scores, submission, submit

MIX = {"right": 0.4, "wrong": 0.25, "raising": 0.25, "looping": 0.1}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def kinds_for(n: int, mix: dict[str, float]) -> list[str]:
    total = sum(mix.values())
    kinds = [k for k, share in mix.items() for _ in range(round(share / total * n))]
    kinds += ["right"] * (n - len(kinds))
    random.Random(7).shuffle(kinds)
    return kinds[:n]


def stock_per_submission(course: Path) -> tuple[list[float], list[float]]:
    """nbgrader's own API, one student after another (what ``nbgrader autograde`` does in one process): seconds, and
    CPU seconds of the kernels that ran the code (the children nbgrader started and reaped), per submission."""
    code = (
        "import json, resource, sys, time\n"
        "from nbgrader.apps import NbGraderAPI\n"
        "from nbgrader.apps.nbgraderapp import NbGrader\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "app = NbGrader(); app.load_config_file(); cfg = app.config\n"
        "api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)\n"
        "times, cpu = [], []\n"
        "def used():\n"
        "    u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    return u.ru_utime + u.ru_stime\n"
        "for student in sys.argv[1:]:\n"
        f"    t0, c0 = time.monotonic(), used(); r = api.autograde({ASSIGNMENT!r}, student, force=True)\n"
        "    assert r['success'], r['error']\n"
        "    times.append(time.monotonic() - t0); cpu.append(used() - c0)\n"
        "print(json.dumps([times, cpu]))\n"
    )
    students = sorted(p.name for p in (course / "submitted").iterdir())
    done = subprocess.run(
        [sys.executable, "-c", code, *students], cwd=course, env=ENV, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def service_way(root: Path, kinds: list[str], args, mode: str = "pooled") -> tuple[float, float, list[dict]]:
    """The grading service's workers (studio_grader.jobs) graded the same submissions, once warm: (wall seconds,
    seconds from start until warm, per-submission seconds). ``mode``: pooled, or strict (a fresh sandbox for
    every submission, the next one started while the current one grades)."""
    import multiprocessing

    from studio_grader import jobs
    from studio_grader.courses import CourseSpace, Sandboxes

    from tests.conftest import COURSE_CONTENT

    space = CourseSpace(
        root,
        "intro-python",
        content_dir=COURSE_CONTENT,
        sandboxes=Sandboxes(image=args.image, timeout=args.timeout, mode=mode),
    )
    space.prepare()
    t0 = time.monotonic()
    warm = {"image": args.image, "runtime": "runsc", "mode": mode}
    with multiprocessing.get_context("spawn").Pool(args.workers, jobs.init_worker, (warm,)) as pool:
        pool.map(jobs.ready, [2.0] * args.workers, chunksize=1)  # every worker set up, its sandbox started
        ready = time.monotonic() - t0
        # What the service does when an assignment is released: the gradebook gets its source.
        pool.apply(jobs.prepare, (space, ASSIGNMENT))
        for student in (root.parent / "stock" / "submitted").iterdir():
            shutil.copytree(student, root / "intro-python" / "submitted" / student.name)
        t1 = time.monotonic()
        results = pool.starmap(
            jobs.grade, [(space, ASSIGNMENT, f"s{i:03d}-{kind}", None) for i, kind in enumerate(kinds)], chunksize=1
        )
        wall = time.monotonic() - t1
    failed = [f"{r['student']}: {r['reason']}" for r in results if r["state"] != "graded"]
    assert not failed, failed
    return wall, ready, results


def cheat_summary(course: Path, students: list[str]) -> tuple[list[str], list[str]]:
    """The cheats that got any point, and those that leaked a hidden test into an output the student sees."""
    got = scores(course)
    return [s for s in students if got.get(s)], [s for s in students if leaked(course, s)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=60, help="honest submissions (the cheats come on top)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1)
    parser.add_argument(
        "--timeout",
        type=int,
        default=30,
        help="seconds per cell: stock's fixed limit (nbgrader's "
        "default 30), ours' ceiling (each cell's limit calibrated from the solution within it)",
    )
    parser.add_argument("--image", default="studio-learner:latest")
    parser.add_argument("--kinds", default=",".join(MIX), help=f"which kinds of submission (default {','.join(MIX)})")
    parser.add_argument("--no-cheats", action="store_true", help="leave the cheat suite out")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        stock = make_course(work / "stock", image=args.image, timeout=args.timeout, stock=True)
        ours = make_course(work / "ours", image=args.image, timeout=args.timeout)
        mix = {k: MIX[k] for k in args.kinds.split(",")}
        kinds = kinds_for(args.submissions, mix) + ([] if args.no_cheats else sorted(CHEATS))
        students = [f"s{i:03d}-{kind}" for i, kind in enumerate(kinds)]
        honest = [s for s, k in zip(students, kinds, strict=True) if k in MIX]
        cheats = [s for s in students if s not in honest]
        for student, kind in zip(students, kinds, strict=True):
            nb = submission(stock, kind)
            submit(stock, student, nb)
            submit(ours, student, nb)
        print(f"submissions: {len(kinds)} ({', '.join(f'{k} {kinds.count(k)}' for k in mix)}, cheats {len(cheats)})")

        def same_as_stock(course: Path, way: str) -> None:
            got = scores(course)
            differ = {s: (stock_scores[s], got.get(s)) for s in honest if stock_scores[s] != got.get(s)}
            assert not differ, f"honest work scored differently (stock, {way}): {differ}"

        t0 = time.monotonic()
        nbgrader(stock, "autograde", ASSIGNMENT)
        stock_wall = time.monotonic() - t0
        stock_scores = scores(stock)

        t0 = time.monotonic()
        report = work / "ours-report.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "studio_grader.autograde",
                ASSIGNMENT,
                "--workers",
                str(args.workers),
                "--report",
                str(report),
            ],
            cwd=ours,
            env=ENV,
            capture_output=True,
            text=True,
        )
        ours_wall = time.monotonic() - t0
        if done.returncode and "0 unreadable, 0 failed" not in done.stderr:
            raise SystemExit(f"studio-autograde failed:\n{done.stderr[-4000:]}")
        same_as_stock(ours, "studio-autograde")

        # The grading service's way: its workers started, each with its sandbox warm, before submissions arrive.
        warm_wall, warm_ready, warm = service_way(work / "service", kinds, args)
        same_as_stock(work / "service" / "intro-python", "service")
        strict_wall, _, strict = service_way(work / "strict", kinds, args, mode="strict")
        same_as_stock(work / "strict" / "intro-python", "strict")

        # Per-submission times: stock graded again one at a time through nbgrader's API; ours from its workers.
        # This machine's speed drifts by tens of percent over minutes (a shared VM): stock runs before and after
        # ours, and the ratios use the mean of both.
        t0 = time.monotonic()
        stock_times, stock_cpu = stock_per_submission(stock)
        stock_again = time.monotonic() - t0
        stock_mean = (stock_wall + stock_again) / 2
        ours_times = [r["seconds"] for r in json.loads(report.read_text())]
        warm_times, warm_cpu = [r["seconds"] for r in warm], [r.get("cpu_seconds") or 0.0 for r in warm]
        strict_times = [r["seconds"] for r in strict]

        print(f"timeout: {args.timeout} s per cell (stock's limit; ours calibrated from the solution within it)")
        print(f"stock_wall: {stock_wall:.1f} s")
        print(f"stock_wall_again: {stock_again:.1f} s")
        print(f"ours_wall: {ours_wall:.1f} s")
        print(f"stock_throughput: {len(kinds) / stock_mean:.2f} submissions/s")
        print(f"ours_throughput: {len(kinds) / ours_wall:.2f} submissions/s")
        print(f"stock_per_submission_p50: {statistics.median(stock_times):.2f} s")
        print(f"stock_per_submission_p95: {percentile(stock_times, 0.95):.2f} s")
        print(f"stock_cpu_per_submission_p50: {statistics.median(stock_cpu):.3f} cpu-s")
        print(f"stock_cpu_per_submission_p95: {percentile(stock_cpu, 0.95):.3f} cpu-s")
        print(f"ours_per_submission_p50: {statistics.median(ours_times):.2f} s")
        print(f"ours_per_submission_p95: {percentile(ours_times, 0.95):.2f} s")
        print(f"service_warm_wall: {warm_wall:.1f} s")
        print(f"service_warm_throughput: {len(kinds) / warm_wall:.2f} submissions/s")
        print(f"service_start_until_warm: {warm_ready:.1f} s")
        print(f"service_per_submission_p50: {statistics.median(warm_times):.2f} s")
        print(f"service_per_submission_p95: {percentile(warm_times, 0.95):.2f} s")
        print(f"service_cpu_per_submission_p50: {statistics.median(warm_cpu):.3f} cpu-s (in the sandbox)")
        print(f"service_cpu_per_submission_p95: {percentile(warm_cpu, 0.95):.3f} cpu-s (in the sandbox)")
        print(f"service_strict_wall: {strict_wall:.1f} s")
        print(f"service_strict_per_submission_p50: {statistics.median(strict_times):.2f} s")
        print(f"service_strict_per_submission_p95: {percentile(strict_times, 0.95):.2f} s")
        print(f"cold_ratio: {stock_mean / ours_wall:.1f} x")
        print(f"strict_ratio: {stock_mean / strict_wall:.1f} x")
        print(f"workers: {args.workers} sandboxes (gVisor; pooled, and strict for strict_*)")
        print(f"honest_scores: identical ({len(honest)} submissions, each way)")
        if cheats:
            for way, course in (("stock", stock), ("ours", ours), ("service", work / "service" / "intro-python")):
                points, leaks = cheat_summary(course, cheats)
                print(f"cheats_with_points_{way}: {len(points)} of {len(cheats)} {sorted(points)}")
                print(f"cheats_leaking_hidden_tests_{way}: {len(leaks)} of {len(cheats)} {sorted(leaks)}")
        print(
            f"RESULT: {stock_mean / warm_wall:.1f}x stock nbgrader autograde throughput by the grading service's "
            f"warm workers ({len(kinds)} submissions: {stock_mean:.1f} s stock, {warm_wall:.1f} s warm; "
            f"{stock_mean / ours_wall:.1f}x cold, studio-autograde; {stock_mean / strict_wall:.1f}x strict mode; "
            "code in gVisor only)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

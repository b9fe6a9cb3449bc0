"""Write docs/configuration.md: every option of Learning Studio's configurable classes, from their traitlets' help.

    .venv/bin/python scripts/config_reference.py [--check]

``--check`` writes nothing and exits 1 when the file is out of date (tests/hub/test_config_reference.py).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from textwrap import dedent

from traitlets.utils.importstring import import_item

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "configuration.md"

# (section, where it is set, classes): the classes whose own options are listed, in this order.
SECTIONS = [
    (
        "Hub-managed services",
        "The hub starts each with options from its settings (`studio_hub.config`); a config file given with "
        "`--config` (for hints: `STUDIO_HINTS_CONFIG`) sets any of them as `c.Class.option = value`.",
        [
            "studio_hub.service.app.ServiceApp",
            "studio_hub.exchange.app.ExchangeService",
            "studio_grader.service.app.GradingService",
            "studio_hub.hints.app.HintsService",
            "studio_hub.hints.providers.HintProvider",
            "studio_hub.hints.llm.LLMProvider",
        ],
    ),
    (
        "Learners' servers",
        "The hub's spawner (`c.SandboxedDockerSpawner` with Docker, `c.LearnerSpawner` in the embedded default), and "
        "the server extension in every learner's server (`jupyter_server_config`).",
        [
            "studio_hub.docker.spawner.SandboxedDockerSpawner",
            "studio_hub.docker.warm.WarmPoolSpawning",
            "studio_hub.docker.volumes.BoundedHomes",
            "studio_hub.docker.network.LearnersNetwork",
            "studio_hub.spawner.LearnerSpawner",
            "studio_ext.lessons.Lessons",
            "studio_ext.hints.Hints",
            "studio_ext.exchange.Exchange",
        ],
    ),
    (
        "Grading (nbgrader config)",
        "Set in a course's or a grader's `nbgrader_config.py`; the grading service writes its courses' configs.",
        [
            "studio_grader.preprocessor.SandboxedExecute",
            "studio_grader.preprocessor.RecordGradingReport",
            "studio_grader.feedback.RedactHiddenTests",
            "studio_grader.sanitize.RestoreNbgraderMetadata",
        ],
    ),
]


def describe(cls) -> list[str]:
    lines = [f"### `{cls.__name__}`", ""]
    doc = " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())
    if doc:
        lines += [doc, ""]
    traits = cls.class_own_traits(config=True)
    if not traits:
        return []
    lines += ["| option | type | default | what |", "|---|---|---|---|"]
    for name, trait in sorted(traits.items()):
        default = trait.default_value_repr()
        if len(default) > 60:
            default = default[:57] + "..."
        default = default.replace("|", "\\|")
        what = " ".join(dedent(trait.help or "").split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {type(trait).__name__} | `{default}` | {what} |")
    return [*lines, ""]


def render() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the options' own help by `scripts/config_reference.py`: do not edit by hand. Each option is "
        "a traitlet, set as `c.<Class>.<option> = value` in the config file of the program that reads it.",
        "",
    ]
    for title, where, names in SECTIONS:
        out += [f"## {title}", "", where, ""]
        for name in names:
            out += describe(import_item(name))
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The project's own files agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import opskit

ROOT = Path(__file__).resolve().parents[1]


def requirement(spec: str) -> tuple[str, str]:
    """Split ``name[extra]>=1.0`` into a normalised name and its version rule."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", spec)
    assert match, spec
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(3).strip()


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]

    declared = dict(requirement(spec) for spec in wanted)
    listed = dict(requirement(spec) for spec in conda)
    listed.pop("pip")
    python = listed.pop("python")

    assert listed == declared
    assert python == project["requires-python"]


def test_the_public_api_is_sorted_and_importable() -> None:
    assert opskit.__all__ == sorted(opskit.__all__)
    for name in opskit.__all__:
        assert getattr(opskit, name) is not None


def test_the_library_never_imports_the_cli_or_notebook_runner() -> None:
    offenders = []
    for path in (ROOT / "opskit").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "opskit").parts or path.name in (
            "notebooks.py",
            "__main__.py",
        ):
            continue
        text = path.read_text()
        if re.search(r"^\s*(from|import) opskit\.(cli|widgets)\b", text, re.M):
            offenders.append(path.name)
    assert offenders == []


def test_the_package_has_no_todo_marks() -> None:
    # Spelled in pieces so this test does not find itself.
    marks = re.compile(
        r"\b(" + "|".join(["TO" + "DO", "FIX" + "ME", "X" + "XX"]) + r")\b"
    )
    found = [
        str(path.relative_to(ROOT))
        for folder in ("opskit", "tests", "scripts", "notebooks")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".ipynb") and marks.search(path.read_text())
    ]
    assert found == []

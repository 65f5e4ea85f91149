"""Re-execute the notebooks in notebooks/ and store their sanitized outputs.

nbval compares the outputs stored in each notebook with a fresh run. After a
deliberate change to what a notebook shows, refresh them with
``make notebooks`` (this script), review the diff, and commit it.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from opskit.notebooks import kernel_config

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "notebooks.sanitize.cfg"


def sanitizers() -> list[tuple[re.Pattern[str], str]]:
    config = configparser.ConfigParser()
    config.read(SANITIZE)
    return [
        (re.compile(config[s]["regex"]), config[s]["replace"])
        for s in config.sections()
    ]


def clean(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def refresh(path: Path, rules: list[tuple[re.Pattern[str], str]]) -> None:
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="opskit-refresh-") as tmp:
        os.environ["OPSKIT_RECORD_STORE"] = str(Path(tmp) / "records")
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            config=kernel_config(),
            resources={"metadata": {"path": tmp}},
        ).execute()
    notebook.metadata.pop("widgets", None)  # live widget state: noise in the diff
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = clean(output["text"], rules)
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str):
                    output["data"][mime] = clean(value, rules)
    nbformat.write(notebook, path)
    print(f"refreshed {path.relative_to(ROOT)}")


def main(names: list[str]) -> None:
    rules = sanitizers()
    paths = [Path(n) for n in names] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        refresh(path.resolve(), rules)


if __name__ == "__main__":
    main(sys.argv[1:])

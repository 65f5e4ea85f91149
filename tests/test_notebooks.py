"""Running notebooks: papermill as users run it, and opskit's runner that files
the executed notebook and its HTML beside the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from opskit.backups.store import create_backup
from opskit.demo import FRESHNESS_QUERY, Demo, prepare_demo
from opskit.errors import NotFoundError, ParameterError
from opskit.notebooks import find_notebook, run_notebook
from opskit.records import RecordStatus, RecordStore
from tests.servers import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
DRILL = ROOT / "notebooks" / "restore_drill.ipynb"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return prepare_demo(tmp_path_factory.mktemp("shop"))


def drill_parameters(shop: Demo, **changes: object) -> dict[str, object]:
    return {
        "service": "shop",
        "backup_store": str(shop.backup_store),
        "freshness_query": FRESHNESS_QUERY,
        "tier": "critical",
    } | changes


def outputs_of(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text") or output.get("evalue") or "")
    return texts


def test_a_drill_run_files_notebook_html_and_record(
    shop: Demo, record_store: Path
) -> None:
    outcome = run_notebook(
        "restore_drill", drill_parameters(shop), record_store=str(record_store)
    )

    folder = Path(outcome.location)
    assert outcome.record.status is RecordStatus.PASSED, outcome.record.reason
    assert sorted(p.name for p in folder.iterdir()) == [
        "notebook.ipynb",
        "record.json",
        "report.html",
    ]
    assert [a.path for a in outcome.record.artifacts] == [
        "notebook.ipynb",
        "report.html",
    ]
    assert "via opskit run" in outcome.record.started_by
    assert "Restore drill" in (folder / "report.html").read_text()
    assert any("record at" in text for text in outputs_of(folder / "notebook.ipynb"))
    assert RecordStore.open(record_store).verify(outcome.record.id) == []


def test_a_refused_backup_keeps_its_failed_status(
    tmp_path: Path, record_store: Path
) -> None:
    shop = prepare_demo(tmp_path / "shop")
    component = shop.backup_store / shop.manifest.backup_id / "database.sqlite.gz"
    component.write_bytes(component.read_bytes()[:-10])

    outcome = run_notebook(
        "restore_drill", drill_parameters(shop), record_store=str(record_store)
    )

    assert outcome.record.status is RecordStatus.FAILED
    assert "truncated" in outcome.record.reason
    assert (Path(outcome.location) / "report.html").is_file()


def test_a_broken_notebook_leaves_an_error_record_and_partial_notebook(
    record_store: Path,
) -> None:
    outcome = run_notebook(
        str(FIXTURES / "fails_in_third_cell.ipynb"), {}, record_store=str(record_store)
    )

    record = outcome.record
    assert record.status is RecordStatus.ERROR
    assert record.kind == "fixture"
    assert "raised ValueError: the third cell breaks" in record.reason
    texts = outputs_of(Path(outcome.location) / "notebook.ipynb")
    assert "first cell ran\n" in texts and "second cell ran\n" in texts
    assert "never reached\n" not in texts


def test_a_hanging_cell_is_stopped_by_the_cell_timeout(record_store: Path) -> None:
    outcome = run_notebook(
        str(FIXTURES / "hangs_in_third_cell.ipynb"),
        {},
        record_store=str(record_store),
        cell_timeout=3,
    )

    assert outcome.record.status is RecordStatus.ERROR
    assert "timeout" in outcome.record.reason.lower()
    assert "about to hang\n" in outputs_of(Path(outcome.location) / "notebook.ipynb")


def test_a_notebook_that_files_no_record_is_an_error(record_store: Path) -> None:
    outcome = run_notebook(
        str(FIXTURES / "files_no_record.ipynb"), {}, record_store=str(record_store)
    )

    assert outcome.record.status is RecordStatus.ERROR
    assert "handed over no record" in outcome.record.reason


def test_unknown_notebooks_and_parameters_are_refused_before_running() -> None:
    with pytest.raises(
        NotFoundError, match=r"'restore_dril'.*did you mean 'restore_drill'"
    ):
        find_notebook("restore_dril")
    with pytest.raises(ParameterError, match=r"parameter teir: .*did you mean 'tier'"):
        run_notebook("restore_drill", {"teir": "critical"})


def papermill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"OPSKIT_RECORD_STORE": str(cwd / "records")}
    command = [sys.executable, "-m", "papermill", str(DRILL), "out.ipynb", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def test_plain_papermill_runs_the_drill_and_files_a_record(
    shop: Demo, tmp_path: Path
) -> None:
    done = papermill(
        "-p", "service", "shop", "-p", "backup_store", str(shop.backup_store),
        "-p", "tier", "critical", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    records = RecordStore.open(tmp_path / "records").find()
    assert [s.record.status for s in records] == [RecordStatus.PASSED]
    assert records[0].record.parameters["tier"] == "critical"
    injected = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[2]
    assert "injected-parameters" in injected.metadata.tags


def test_plain_papermill_exits_non_zero_and_records_bad_input(
    shop: Demo, tmp_path: Path
) -> None:
    done = papermill(
        "-p", "service", "shop", "-p", "backup_store", str(shop.backup_store),
        "-p", "tier", "platinum", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode != 0
    assert "DrillError" in done.stderr
    (stored,) = RecordStore.open(tmp_path / "records").find()
    assert stored.record.status is RecordStatus.ERROR
    assert "unknown tier 'platinum'" in stored.record.reason
    assert json.loads((tmp_path / "out.ipynb").read_text())["cells"]


@pytest.mark.integration
def test_opskit_run_drills_postgres_from_s3_end_to_end(
    postgres: PostgresServer, pgbench_db: str, s3_bucket: str, record_store: Path
) -> None:
    store = f"s3://{s3_bucket}/shop"
    create_backup(pgbench_db, store, engine="postgres")

    outcome = run_notebook(
        "restore_drill",
        {
            "service": "shop",
            "backup_store": store,
            "scratch": postgres.url("drill_from_notebook"),
            "tier": "critical",
            "sql_checks": {
                "accounts": {
                    "sql": "select count(*) from pgbench_accounts",
                    "expected": 100000,
                }
            },
        },
        record_store=str(record_store),
    )

    record = outcome.record
    assert record.status is RecordStatus.PASSED, record.reason
    assert record.details["backup"]["engine"] == "postgres"
    assert [p.name for p in record.phases][:4] == [
        "locate",
        "download",
        "restore",
        "verify",
    ]
    assert "sql:accounts" in [c.name for c in record.checks]
    assert RecordStore.open(record_store).verify(record.id) == []

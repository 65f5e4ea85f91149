"""The restore drill: every outcome comes back as a result with a record."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from opskit.backups.drill import run_drill
from opskit.backups.result import DrillError, DrillFailed
from opskit.backups.store import BackupStore, create_backup
from opskit.demo import FRESHNESS_QUERY, Demo
from opskit.records import RecordStatus, RecordStore
from tests.helpers import sha256_of


def drill(demo: Demo, **changes: Any) -> Any:
    params: dict[str, Any] = {
        "service": "shop",
        "backup_store": str(demo.backup_store),
        "freshness_query": FRESHNESS_QUERY,
        "tier": "critical",
    }
    return run_drill(**(params | changes))


def backup_file(demo: Demo, name: str = "database.sqlite.gz") -> Path:
    return demo.backup_store / demo.manifest.backup_id / name


def test_a_good_backup_passes_with_rto_and_rpo_measured(demo: Demo) -> None:
    result = drill(demo)
    record = result.record

    assert record.status is RecordStatus.PASSED, record.reason
    assert record.kind == "restore-drill"
    assert [p.name for p in record.phases] == [
        "locate",
        "download",
        "verify",
        "restore",
        "validate",
        "cleanup",
    ]
    validated = next(p for p in record.phases if p.name == "validate").ended_at
    rto = record.measurements["rto_seconds"]
    assert rto == pytest.approx((validated - record.started_at).total_seconds())
    rpo = record.measurements["rpo_seconds"]
    assert demo.manifest.newest_data_at is not None
    assert rpo == pytest.approx(
        (record.started_at - demo.manifest.newest_data_at).total_seconds()
    )
    assert record.measurements["rows"] == 9215
    assert [(t.name, t.met) for t in record.targets] == [("rto", True), ("rpo", True)]
    assert record.details["backup"]["backup_id"] == demo.manifest.backup_id
    assert record.details["tier"]["rto_seconds"] == 900
    result.raise_for_status()


def test_the_scratch_copy_is_removed_unless_kept(demo: Demo, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"

    removed = drill(demo, scratch=str(scratch))
    kept = drill(demo, scratch=str(tmp_path / "kept"), keep_scratch=True)

    assert removed.status is RecordStatus.PASSED
    assert not Path(removed.record.details["scratch_target"]).exists()
    assert Path(kept.record.details["scratch_target"]).is_file()
    assert kept.record.phases[-1].status.value == "skipped"


def test_the_source_is_never_touched(demo: Demo, tmp_path: Path) -> None:
    before = sha256_of(demo.database)

    drill(demo)
    drill(demo, scratch=str(demo.database))
    drill(demo, scratch=str(demo.database.parent))

    assert sha256_of(demo.database) == before


def test_a_missed_target_fails_the_drill(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("instant: {rto: 0.000001, rpo: 0.000001}\n")
    monkeypatch.setenv("OPSKIT_TIERS", str(tiers))

    result = drill(demo, tier="instant")

    assert result.status is RecordStatus.FAILED
    assert "RTO" in result.record.reason and "MISSED" in result.record.reason
    with pytest.raises(DrillFailed):
        result.raise_for_status()


def flip_a_byte(demo: Demo) -> None:
    path = backup_file(demo)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(demo: Demo) -> None:
    path = backup_file(demo)
    path.write_bytes(path.read_bytes()[:-100])


def remove_component(demo: Demo) -> None:
    backup_file(demo).unlink()


def key_outside(key: str) -> Any:
    def change(demo: Demo) -> None:
        path = backup_file(demo, "manifest.json")
        manifest = json.loads(path.read_text())
        manifest["components"][0]["key"] = key
        path.write_text(json.dumps(manifest))

    return change


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (flip_a_byte, "sha256 .* does not match"),
        (truncate, "the backup is truncated"),
        (remove_component, "component named in the manifest is missing"),
        (key_outside("../x"), "field components.0.key: key '../x'"),
        (key_outside("/etc/passwd"), "field components.0.key: key '/etc/passwd'"),
    ],
)
def test_a_damaged_backup_is_refused_and_fails(
    demo: Demo, damage: Any, message: str
) -> None:
    damage(demo)

    result = drill(demo)

    assert result.status is RecordStatus.FAILED
    assert re.search(message, result.record.reason)
    assert "restore" not in [p.name for p in result.record.phases]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"backup_store": "/nonexistent/backups"},
            "backup_store: /nonexistent/backups",
        ),
        (
            {"backup_id": "20200101T000000Z-000000"},
            "backup_id: '20200101T000000Z-000000'",
        ),
        ({"tier": "platinum"}, "tier: unknown tier 'platinum'"),
        ({"tier": 5}, "parameter tier: input should be a valid string, got 5"),
        ({"keep_scratch": "maybe"}, "parameter keep_scratch: .* got 'maybe'"),
        ({"service": "shop", "backup_store": "demo"}, "backup_store: 'demo' drills"),
    ],
)
def test_bad_input_is_an_error_that_names_the_parameter(
    demo: Demo, changes: dict[str, Any], message: str
) -> None:
    result = drill(demo, **changes)

    assert result.status is RecordStatus.ERROR
    assert re.search(message, result.record.reason)
    with pytest.raises(DrillError):
        result.raise_for_status()


def test_a_scratch_target_equal_to_the_source_is_an_error(demo: Demo) -> None:
    result = drill(demo, scratch=str(demo.database))

    assert result.status is RecordStatus.ERROR
    assert result.record.reason.startswith("scratch: ")
    assert "is the source database" in result.record.reason


def test_an_empty_store_says_how_to_make_a_backup(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    result = run_drill(service="shop", backup_store=str(tmp_path / "empty"))

    assert result.status is RecordStatus.ERROR
    assert "holds no backups" in result.record.reason


def test_latest_picks_the_newest_backup(demo: Demo) -> None:
    newer = create_backup(str(demo.database), demo.backup_store)

    assert BackupStore.open(demo.backup_store).find().backup_id == newer.backup_id
    assert drill(demo).record.details["backup"]["backup_id"] == newer.backup_id
    older = drill(demo, backup_id=demo.manifest.backup_id)
    assert older.record.details["backup"]["backup_id"] == demo.manifest.backup_id


def test_a_result_files_its_record(demo: Demo, record_store: Path) -> None:
    result = drill(demo)

    location = result.file(record_store)

    stored = RecordStore.open(record_store).load(result.record.id)
    assert location == f"{record_store}/{stored.key}"
    assert stored.record.model_copy(update={"digest": ""}) == result.record
    assert stored.record.digest == stored.record.compute_digest()


def test_the_demo_store_runs_on_the_embedded_sample() -> None:
    result = run_drill(service="demo", backup_store="demo")

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert result.record.measurements["rows"] == 9215
    assert [c.name for c in result.record.checks][-1] == "freshness"

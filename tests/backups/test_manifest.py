"""Manifests: what a backup holds, and refusal of damaged or hostile ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opskit.backups.manifest import Manifest, new_backup_id, parse_manifest
from opskit.errors import BackupRejected

GOOD: dict[str, Any] = {
    "format_version": 1,
    "backup_id": "20261203T093000Z-abc123",
    "engine": "sqlite",
    "source": "/srv/app.db",
    "taken_at": "2026-12-03T09:30:00Z",
    "components": [{"key": "database.sqlite.gz", "size": 10, "sha256": "a" * 64}],
    "tables": {"orders": 12},
}


def manifest_bytes(**changes: Any) -> bytes:
    return json.dumps(GOOD | changes).encode()


def test_a_manifest_round_trips_with_utc_times() -> None:
    manifest = parse_manifest(manifest_bytes(), "manifest.json")

    assert manifest.taken_at == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert manifest.size == 10
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ({"key": "../x", "size": 1, "sha256": "a" * 64}, "components.0.key"),
        ({"key": "/etc/passwd", "size": 1, "sha256": "a" * 64}, "components.0.key"),
        ({"key": "db.gz", "size": -1, "sha256": "a" * 64}, "components.0.size"),
        ({"key": "db.gz", "size": 1, "sha256": "xyz"}, "components.0.sha256"),
    ],
)
def test_a_hostile_or_damaged_component_is_refused(
    component: dict[str, Any], field: str
) -> None:
    with pytest.raises(BackupRejected) as caught:
        parse_manifest(manifest_bytes(components=[component]), "b1/manifest.json")

    message = str(caught.value)
    assert message.startswith(f"b1/manifest.json: field {field}:")
    assert "refused" in message


def test_a_manifest_that_is_not_json_is_refused() -> None:
    with pytest.raises(BackupRejected, match=r"m.json: field"):
        parse_manifest(b'{"backup_id": ', "m.json")


def test_backup_ids_sort_by_time_even_within_a_second() -> None:
    early = new_backup_id(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    late = new_backup_id(datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC))
    later = new_backup_id(datetime(2026, 2, 1, 0, 0, 0, 1, tzinfo=UTC))

    assert early.startswith("20260131T235959.000000Z-")
    assert sorted([later, late, early]) == [early, late, later]

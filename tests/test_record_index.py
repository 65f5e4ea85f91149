"""The record index: kept on save, rebuilt when lost, safe under concurrency."""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from opskit.phases import Phase, PhaseStatus
from opskit.record_index import RECORD_FILE, RecordIndex
from opskit.record_model import Record, RecordStatus, parse_record
from opskit.record_store import RecordStore, StoredRecord
from opskit.storage import LocalStorage, open_storage
from opskit.targets import compare_targets, get_tier
from tests.helpers import Invoke
from tests.test_records import make_record

# Records here are filed on past days, out of the recent days every read checks.
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WRITERS, PER_WRITER = 4, 50


def drill_record(
    name: str, started_at: datetime, rto: float | None, tier: str = "critical"
) -> Record:
    """A restore-drill record as run_drill builds it: phases, measurements,
    targets of the tier."""
    phases = [
        Phase(
            name=phase,
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=seconds),
            seconds=seconds,
            status=PhaseStatus.OK,
        )
        for phase, seconds in (("download", 4.5), ("restore", 20.25))
    ]
    return make_record(
        name=name,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=rto or 30),
        status=RecordStatus.PASSED if rto and rto < 900 else RecordStatus.FAILED,
        parameters={"service": name, "tier": tier, "db_password": "***"},
        phases=phases,
        measurements={"rto_seconds": rto, "rpo_seconds": 61.0, "rows": 9215},
        targets=compare_targets(get_tier(tier), rto, 61.0),
    )


def save_records(store: RecordStore, count: int, **changes: Any) -> list[str]:
    """File ``count`` records a minute apart; return their folder keys."""
    start = changes.pop("started_at", T0)
    return [
        store.save(make_record(started_at=start + timedelta(minutes=n), **changes))
        .removeprefix(store.storage.location)
        .strip("/")
        for n in range(count)
    ]


def indexed_store(root: Path) -> RecordStore:
    """A store whose index exists (empty), so reads need not rebuild it."""
    store = RecordStore.open(root)
    store.index.compact()
    return store


def keys_of(store: RecordStore, **filters: Any) -> list[str]:
    return [entry.key for entry in store.summaries(**filters)]


def index_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "_index").rglob("*"))


def test_saved_records_are_listed_from_the_index(record_store: Path) -> None:
    store = indexed_store(record_store)
    keys = save_records(store, 3)
    # A record.json broken after filing: the index still lists it as filed,
    # find() opens the file and leaves it out, verify says why.
    (record_store / keys[1] / RECORD_FILE).write_text("{")

    entries = RecordStore.open(record_store).summaries()

    assert [e.key for e in entries] == keys
    assert entries[0].status is RecordStatus.PASSED
    assert entries[0].started_at == T0
    assert len(entries[0].digest) == 64
    assert [s.key for s in store.find()] == [keys[0], keys[2]]
    assert "not a valid record" in store.verify(keys[1])[0]
    assert len(index_files(record_store)) == 6  # index, journal, marker, entries


def damage_deleted(root: Path) -> None:
    shutil.rmtree(root / "_index")


def damage_truncated(root: Path) -> None:
    (generation,) = (root / "_index").glob("index-*.jsonl")
    data = generation.read_bytes()
    generation.write_bytes(data[: len(data) // 2])


def damage_garbled(root: Path) -> None:
    (generation,) = (root / "_index").glob("index-*.jsonl")
    generation.write_bytes(generation.read_bytes().replace(b'"passed"', b'"failed"'))


def damage_version(root: Path) -> None:
    (generation,) = (root / "_index").glob("index-*.jsonl")
    text = generation.read_text().replace('"version":1', '"version":9', 1)
    generation.write_text(text)


def damage_journal(root: Path) -> None:
    entry = next((root / "_index" / "journal").glob("*orders*.json"))
    entry.write_text('{"format": "opskit-record-index-entry", "entry": {}}')


@pytest.mark.parametrize(
    "damage",
    [damage_deleted, damage_truncated, damage_garbled, damage_version, damage_journal],
)
def test_a_lost_or_damaged_index_is_rebuilt_from_the_records(
    record_store: Path, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordStore.open(record_store)
    keys = save_records(store, 4)
    store.index.compact()
    keys += save_records(store, 2, started_at=T0 + timedelta(hours=1))
    damage(record_store)

    with caplog.at_level(logging.INFO, logger="opskit"):
        listed = keys_of(RecordStore.open(record_store))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="opskit"):
        again = keys_of(RecordStore.open(record_store))

    assert listed == again == keys
    assert {e.status for e in store.summaries()} == {RecordStatus.PASSED}
    assert not [r for r in caplog.records if "rebuil" in r.getMessage()]
    assert [f for f in index_files(record_store) if f.endswith(".json")] == []


def test_a_record_copied_into_a_recent_folder_is_found_at_the_next_read(
    record_store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordStore.open(record_store)
    save_records(store, 2)
    store.index.compact()
    elsewhere = RecordStore.open(tmp_path / "elsewhere", create=True)
    now = datetime.now(UTC).replace(microsecond=0)
    (copied,) = save_records(elsewhere, 1, started_at=now, name="copied")
    shutil.copytree(tmp_path / "elsewhere" / copied, record_store / copied)

    with caplog.at_level(logging.WARNING, logger="opskit"):
        found = keys_of(RecordStore.open(record_store), name="copied")

    assert found == [copied]
    assert f"{copied}: not in the record index; adding it" in caplog.text
    assert (
        record_store / "_index/journal" / f"{copied.replace('/', '~')}.json"
    ).exists()


def test_a_record_copied_into_an_old_folder_is_found_by_reindex(
    record_store: Path, tmp_path: Path, opskit: Invoke
) -> None:
    store = RecordStore.open(record_store)
    save_records(store, 2)
    store.index.compact()
    elsewhere = RecordStore.open(tmp_path / "elsewhere", create=True)
    (copied,) = save_records(elsewhere, 1, name="copied", started_at=T0)
    shutil.copytree(tmp_path / "elsewhere" / copied, record_store / copied)
    assert keys_of(store, name="copied") == []

    outcome = opskit("records", "reindex", "--store", str(record_store))

    assert outcome.code == 0, outcome.stderr
    assert f"3 record(s) indexed in {record_store} in " in outcome.stderr
    assert keys_of(store, name="copied") == [copied]
    listed = opskit("records", "list", "--name", "copied", "--store", str(record_store))
    assert copied in listed.stdout


def write_concurrently(root: str, writer: int, start: Any) -> None:
    """Save records from one process, compacting as it goes."""
    store = RecordStore(LocalStorage(root))
    store.index.compact_after = 7
    start.wait()
    for n in range(PER_WRITER):
        moment = T0 + timedelta(seconds=n * WRITERS + writer)
        store.save(make_record(name=f"writer {writer}", started_at=moment))
        if n % 10 == 9:
            store.index.compact()


def test_concurrent_writers_and_compactions_lose_no_record(
    record_store: Path,
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [
        context.Process(target=write_concurrently, args=(str(record_store), n, start))
        for n in range(WRITERS)
    ]
    for process in writers:
        process.start()
    store = RecordStore.open(record_store)
    seen: set[str] = set()
    start.set()
    # Every read during the writes must hold every record an earlier read held.
    while any(process.is_alive() for process in writers):
        keys = keys_of(store)
        assert len(keys) == len(set(keys))
        assert seen <= set(keys)
        seen = set(keys)
    for process in writers:
        process.join()
        assert process.exitcode == 0

    keys = keys_of(store)
    store.index.compact()

    assert len(keys) == len(set(keys)) == WRITERS * PER_WRITER
    assert set(keys) == {
        p.parent.relative_to(record_store).as_posix()
        for p in record_store.glob(f"*/*/*/*/*/{RECORD_FILE}")
    }
    assert keys_of(store) == keys
    journal = index_files(record_store)
    assert [name for name in journal if name.endswith(".json")] == []


def test_a_compaction_stopped_before_its_deletions_counts_each_record_once(
    record_store: Path,
) -> None:
    store = RecordStore.open(record_store)
    keys = save_records(store, 5)
    journal = {p: p.read_bytes() for p in (record_store / "_index/journal").iterdir()}
    store.index.compact()
    for path, data in journal.items():  # as if the compaction stopped here
        path.write_bytes(data)

    assert keys_of(store) == keys
    assert len(store.frame()) == 5
    store.index.compact()
    assert keys_of(store) == keys
    assert len(list((record_store / "_index/journal").glob("*~*.json"))) == 0


def test_the_index_on_s3_survives_concurrent_compactions_and_loss(
    s3_bucket: str, s3_env: str
) -> None:
    location = f"s3://{s3_bucket}/records"

    def write(writer: int) -> None:
        store = RecordStore(open_storage(location))
        store.index.compact_after = 3
        for n in range(5):
            moment = T0 + timedelta(minutes=n, seconds=writer)
            store.save(make_record(name=f"writer {writer}", started_at=moment))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = RecordStore.open(location)
    keys = keys_of(store)
    client = boto3.client("s3", endpoint_url=s3_env)
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="records/_index/")
    for item in listed["Contents"]:
        if "/index-" in item["Key"]:
            client.delete_object(Bucket=s3_bucket, Key=item["Key"])

    assert len(keys) == len(set(keys)) == 15
    assert keys_of(RecordStore.open(location)) == keys


def test_frame_flattens_measurements_targets_and_phases(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    store.index.compact()
    store.save(drill_record("orders", T0, rto=42.5))
    late = T0 + timedelta(hours=1)
    store.save(drill_record("billing", late, rto=None, tier="standard"))
    store.save(make_record(kind="security-review", started_at=T0))

    journaled = store.frame(kind="restore-drill")
    store.index.compact()
    frame = store.frame(kind="restore-drill")

    pd.testing.assert_frame_equal(journaled, frame)
    assert list(frame["name"]) == ["orders", "billing"]
    assert list(frame["tier"]) == ["critical", "standard"]
    assert frame["m.rto_seconds"].iloc[0] == 42.5
    assert pd.isna(frame["m.rto_seconds"].iloc[1])
    assert list(frame["t.rto.met"]) == [True, None]
    assert frame["t.rto.target"].iloc[0] == 15 * 60
    assert frame["t.rto.margin"].iloc[0] == 15 * 60 - 42.5
    assert frame["t.rpo.actual"].iloc[0] == 61.0
    assert list(frame["p.restore.seconds"]) == [20.25, 20.25]
    assert frame["started_at"].iloc[0] == pd.Timestamp(T0)
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert list(store.frame(since=T0 + timedelta(minutes=1))["name"]) == ["billing"]
    assert "m.rto_seconds" not in store.frame(kind="security-review")


def read_everything(store: RecordStore, **filters: Any) -> list[StoredRecord]:
    """What find() returned before the index: every record.json, filtered."""
    found = []
    for path in Path(store.storage.location).glob(f"*/*/*/*/*/{RECORD_FILE}"):
        record = parse_record(path.read_bytes(), str(path))
        if (
            filters.get("kind") in (None, record.kind)
            and filters.get("since", T0 - timedelta(days=99)) <= record.started_at
        ):
            key = path.parent.relative_to(store.storage.location).as_posix()
            found.append(StoredRecord(key=key, record=record))
    return sorted(found, key=lambda s: s.record.started_at)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"kind": "restore-drill"},
        {"kind": "restore-drill", "since": T0 + timedelta(days=7)},
        {"since": T0 + timedelta(days=12, hours=1)},
    ],
)
def test_find_returns_what_reading_every_record_returned(
    record_store: Path, filters: dict[str, Any]
) -> None:
    store = RecordStore.open(record_store)
    for day in range(14):
        moment = T0 + timedelta(days=day, hours=day % 3)
        store.save(drill_record(f"svc{day % 4}", moment, rto=30.0 + day))
        if day % 5 == 0:
            later = moment + timedelta(minutes=1)
            store.save(make_record(kind="security-review", started_at=later))
    store.index.compact()
    save_records(store, 2, started_at=T0 + timedelta(days=13))

    assert store.find(**filters) == read_everything(store, **filters)


def test_a_replaced_record_json_is_caught_against_the_index(
    record_store: Path,
) -> None:
    store = RecordStore.open(record_store)
    record = make_record(status=RecordStatus.FAILED, reason="RTO missed")
    folder = Path(store.save(record))
    forged = record.model_copy(update={"status": RecordStatus.PASSED, "reason": ""})
    forged = forged.model_copy(update={"digest": forged.compute_digest()})
    (folder / RECORD_FILE).write_text(forged.model_dump_json())

    assert store.verify(record.id) == [
        "record.json: its digest differs from the one in the record index; "
        "record.json was replaced after it was filed, so the record cannot be "
        "trusted"
    ]
    assert store.find() == []
    assert [e.status for e in store.summaries()] == [RecordStatus.FAILED]


def test_a_record_is_kept_when_its_index_entry_cannot_be_written(
    record_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (record_store / "_index").write_text("not a folder")
    store = RecordStore.open(record_store)

    with caplog.at_level(logging.WARNING, logger="opskit"):
        location = store.save(make_record(started_at=T0))

    assert (Path(location) / RECORD_FILE).is_file()
    assert "filed, but not added to the record index" in caplog.text
    assert [s.record.started_at for s in store.find()] == [T0]
    assert "the rebuilt index cannot be written" in caplog.text


def test_entries_read_from_the_journal_and_a_generation_are_equal(
    record_store: Path,
) -> None:
    index = RecordIndex(LocalStorage(record_store))
    store = indexed_store(record_store)
    store.save(drill_record("orders", T0, rto=42.5))
    store.save(make_record(measurements={"bytes": 10, "note": None}))

    journaled = index.entries()
    index.compact()

    assert index.entries() == journaled
    assert journaled[1].measurements == {"bytes": 10, "note": None}
    assert [p.name for p in journaled[0].phases] == ["download", "restore"]
    assert (
        json.loads(
            (record_store / "_index/index-000000000002.jsonl")
            .read_text()
            .split("\n")[0]
        )["count"]
        == 2
    )

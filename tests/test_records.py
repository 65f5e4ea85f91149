"""Records: the model, its schema, the store's guarantees and verification."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opskit.errors import NotFoundError, ParameterError, RecordError
from opskit.records import (
    DRAFT_ENV,
    Record,
    RecordStatus,
    RecordStore,
    current_environment,
    file_record,
    mask_parameters,
    record_schema,
)

SCHEMA_FILE = Path(__file__).parents[1] / "opskit" / "schemas" / "record-v1.schema.json"
T0 = datetime(2026, 12, 3, 9, 30, 5, tzinfo=UTC)


def make_record(**changes: Any) -> Record:
    fields: dict[str, Any] = {
        "kind": "restore-drill",
        "name": "Orders API",
        "started_by": "tester@host",
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=42),
        "status": RecordStatus.PASSED,
        "environment": current_environment(),
    }
    return Record(**(fields | changes))


def test_records_are_filed_in_dated_folders(record_store: Path) -> None:
    record = make_record()

    location = RecordStore.open(record_store).save(record)

    folder = f"restore-drill/2026/12/03/093005-orders-api-{record.id[:8]}"
    assert location == f"{record_store}/{folder}"
    assert (record_store / folder / "record.json").is_file()


def test_saved_records_match_the_shipped_schema(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    location = store.save(make_record(parameters={"tier": "critical"}))

    document = json.loads((Path(location) / "record.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    assert document["schema_version"] == 1
    assert document["environment"]["opskit_version"] == "0.1.0"


def test_the_shipped_schema_is_the_models_schema() -> None:
    shipped = json.loads(SCHEMA_FILE.read_text())

    assert shipped == record_schema(), (
        "opskit/schemas/record-v1.schema.json is stale; a change to Record needs a "
        "new schema file (and a new schema_version if old records no longer load)"
    )


def test_files_are_listed_with_their_sha256(record_store: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<html>drill</html>")

    location = RecordStore.open(record_store).save(
        make_record(), {"report.html": report}
    )

    saved = json.loads((Path(location) / "record.json").read_text())
    assert saved["artifacts"] == [
        {
            "path": "report.html",
            "sha256": hashlib.sha256(b"<html>drill</html>").hexdigest(),
            "bytes": 18,
        }
    ]


def test_a_record_is_never_overwritten(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    record = make_record()
    location = store.save(record)

    with pytest.raises(RecordError, match="record exists already"):
        store.save(record.model_copy(update={"status": RecordStatus.FAILED}))
    assert (
        json.loads((Path(location) / "record.json").read_text())["status"] == "passed"
    )


def test_records_are_found_by_kind_name_status_and_since(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    old = make_record(name="orders", started_at=T0 - timedelta(days=3))
    failed = make_record(name="orders", status=RecordStatus.FAILED)
    other = make_record(name="billing", started_at=T0 + timedelta(minutes=1))
    review = make_record(
        kind="security-review", name="orders", started_at=T0 + timedelta(minutes=2)
    )
    for record in (old, failed, other, review):
        store.save(record)

    def ids(**filters: Any) -> list[str]:
        return [s.record.id for s in store.find(**filters)]

    assert ids() == [old.id, failed.id, other.id, review.id]
    assert ids(kind="restore-drill", name="orders") == [old.id, failed.id]
    assert ids(status="failed") == [failed.id]
    assert ids(since=T0 - timedelta(days=1)) == [failed.id, other.id, review.id]


def test_records_load_by_folder_id_or_id_prefix(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    record = make_record()
    store.save(record)

    filed = record.model_copy(update={"digest": record.compute_digest()})
    assert store.load(record.id).record == filed
    assert store.load(record.id[:10]).record == filed
    assert store.load(record.folder()).record == filed
    assert store.load(f"{record_store}/{record.folder()}/").record == filed
    with pytest.raises(NotFoundError, match="record 'ffff': not in"):
        store.load("ffff")


def test_a_record_folder_relative_to_the_current_folder_loads(
    record_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RecordStore.open(record_store.absolute())
    record = make_record()
    store.save(record)
    monkeypatch.chdir(record_store.parent)

    relative = f"{record_store.name}/{record.folder()}"

    assert store.load(relative).record.id == record.id


def test_a_damaged_record_is_left_out_of_listings_and_fails_verify(
    record_store: Path,
) -> None:
    store = RecordStore.open(record_store)
    good, bad = make_record(name="good"), make_record(name="bad")
    store.save(good)
    bad_location = Path(store.save(bad))
    (bad_location / "record.json").write_text('{"kind": "restore-drill"}')

    assert [s.record.name for s in store.find()] == ["good"]
    problems = store.verify(bad.folder())
    assert len(problems) == 1
    assert "not a valid record" in problems[0]


def test_verify_finds_changed_missing_and_unlisted_files(
    record_store: Path, tmp_path: Path
) -> None:
    store = RecordStore.open(record_store)
    for name in ("notebook.ipynb", "report.html"):
        (tmp_path / name).write_text(name)
    record = make_record()
    folder = Path(
        store.save(
            record,
            {
                "notebook.ipynb": tmp_path / "notebook.ipynb",
                "report.html": tmp_path / "report.html",
            },
        )
    )
    assert store.verify(record.id) == []

    (folder / "report.html").write_text("edited")
    (folder / "notebook.ipynb").unlink()
    (folder / "extra.txt").write_text("slipped in")

    assert store.verify(record.id) == [
        "notebook.ipynb: listed in record.json but missing",
        "report.html: sha256 differs from record.json; the file was changed",
        "extra.txt: in the folder but not listed in record.json",
    ]


@pytest.mark.parametrize(
    ("parameters", "masked"),
    [
        ({"db_password": "hunter2"}, {"db_password": "***"}),
        (
            {"api_token": "abc", "tier": "critical"},
            {"api_token": "***", "tier": "critical"},
        ),
        (
            {"dsn": "postgresql://app:hunter2@db:5432/orders"},
            {"dsn": "postgresql://app:***@db:5432/orders"},
        ),
        (
            {"dsn": "host=db user=app password=hunter2 dbname=orders"},
            {"dsn": "host=db user=app password=*** dbname=orders"},
        ),
        ({"secret": ""}, {"secret": ""}),
        (
            {"dsn": "host=db password='my secret' dbname=x"},
            {"dsn": "host=db password=*** dbname=x"},
        ),
    ],
)
def test_secrets_never_reach_a_record(
    parameters: dict[str, Any], masked: dict[str, Any]
) -> None:
    assert mask_parameters(parameters) == masked


def test_under_the_runner_a_record_is_handed_over_not_filed(
    record_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = tmp_path / "draft.json"
    monkeypatch.setenv(DRAFT_ENV, str(draft))
    record = make_record()

    location = file_record(record, record_store)

    assert location == f"{record_store}/{record.folder()}"
    assert Record.model_validate_json(draft.read_text()) == record
    assert list(record_store.iterdir()) == []


def test_an_edited_record_json_is_caught(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    record = make_record(status=RecordStatus.FAILED, reason="RTO missed")
    folder = Path(store.save(record))
    document = json.loads((folder / "record.json").read_text())
    document.update(status="passed", reason="")
    (folder / "record.json").write_text(json.dumps(document))

    problems = store.verify(record.folder())

    assert problems == [
        "record.json: changed since it was filed (its digest no longer matches); "
        "the record cannot be trusted"
    ]
    assert store.find(status="passed") == []


def test_a_record_that_cannot_be_written_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    store = RecordStore.open(tmp_path / "records", create=True)
    record = make_record(status=RecordStatus.FAILED, reason="RPO missed")
    (tmp_path / "notebook.ipynb").write_text("{}")
    # A folder where record.json should go makes the last write fail.
    (tmp_path / "records" / record.folder() / "record.json").mkdir(parents=True)

    with pytest.raises(RecordError, match="the run ended failed: RPO missed"):
        store.save(record, {"notebook.ipynb": tmp_path / "notebook.ipynb"})

    assert not (tmp_path / "records" / record.folder() / "notebook.ipynb").exists()


@pytest.mark.parametrize("ref", ["", "/", "..", "a/../b"])
def test_a_meaningless_reference_says_what_to_give(
    record_store: Path, ref: str
) -> None:
    with pytest.raises(ParameterError, match="give a record folder"):
        RecordStore.open(record_store).load(ref)


def test_stray_folders_are_not_records(record_store: Path) -> None:
    store = RecordStore.open(record_store)
    store.save(make_record())
    stray = record_store / "restore-drill" / "xxxx" / "yy" / "zz" / "foo"
    stray.mkdir(parents=True)
    (stray / "record.json").write_text("{}")

    found = store.find(since=T0 - timedelta(days=1))

    assert [s.record.name for s in found] == ["Orders API"]

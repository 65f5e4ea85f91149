"""Local storage: keys stay inside the store, writes are atomic and exclusive."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from opskit.errors import InputError, NotFoundError
from opskit.storage import LocalStorage, ObjectExists, check_key, open_storage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store", create=True)


def test_objects_round_trip_and_list_in_key_order(storage: LocalStorage) -> None:
    storage.put_bytes("b/2.txt", b"two")
    storage.put_bytes("a/1.txt", b"one")

    assert [info.key for info in storage.list()] == ["a/1.txt", "b/2.txt"]
    assert [info.size for info in storage.list("b/")] == [3]
    assert storage.read_bytes("a/1.txt") == b"one"


def test_an_existing_object_is_never_overwritten(storage: LocalStorage) -> None:
    storage.put_bytes("record.json", b"first")

    with pytest.raises(ObjectExists, match="already exists"):
        storage.put_bytes("record.json", b"second")
    assert storage.read_bytes("record.json") == b"first"


def test_no_temporary_file_is_left_or_listed(storage: LocalStorage) -> None:
    storage.put_bytes("x", b"data")
    with pytest.raises(ObjectExists):
        storage.put_bytes("x", b"again")

    assert [p.name for p in storage.root.iterdir()] == ["x"]


def test_download_hashes_on_the_stream(storage: LocalStorage, tmp_path: Path) -> None:
    data = b"x" * 3_000_000
    storage.put_bytes("big", data)

    got = storage.download("big", tmp_path / "copy")

    assert got.size == len(data)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.path.read_bytes() == data


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../x", "a//b", "", "./a", "a\\..\\b"]
)
def test_keys_outside_the_store_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InputError, match="not a plain relative path"):
        check_key(key)
    with pytest.raises(InputError):
        storage.read_bytes(key)


def test_a_missing_store_or_object_is_named(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nowhere: store folder does not exist"):
        open_storage(tmp_path / "nowhere")

    storage = LocalStorage(tmp_path)
    with pytest.raises(NotFoundError, match=r"absent.bin: no such object"):
        storage.read_bytes("absent.bin")


def test_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scheme 'ftp' is not supported"):
        open_storage("ftp://host/backups")

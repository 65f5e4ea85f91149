"""The storage contract, held by a local folder and by S3 alike: keys stay
inside the store, writes are whole and never replace an object unasked."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import boto3
import pytest

from opskit.errors import InputError, NotFoundError
from opskit.storage import ObjectExists, Storage, check_key, open_storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return open_storage(tmp_path / "store", create=True)
    bucket = request.getfixturevalue("s3_bucket")
    return open_storage(f"s3://{bucket}/team/backups")


def test_objects_round_trip_and_list_in_key_order(storage: Storage) -> None:
    storage.put_bytes("b/2.txt", b"two")
    storage.put_bytes("a/1.txt", b"one")

    assert [info.key for info in storage.list()] == ["a/1.txt", "b/2.txt"]
    assert [info.size for info in storage.list("b/")] == [3]
    assert storage.read_bytes("a/1.txt") == b"one"
    assert storage.exists("a/1.txt") and not storage.exists("a/2.txt")


def test_an_existing_object_is_never_overwritten(storage: Storage) -> None:
    storage.put_bytes("record.json", b"first")

    with pytest.raises(ObjectExists, match="already exists"):
        storage.put_bytes("record.json", b"second")
    with pytest.raises(ObjectExists):
        storage.put_stream("record.json", io.BytesIO(b"third"))
    assert storage.read_bytes("record.json") == b"first"


def test_a_large_file_goes_up_and_down_hashed(storage: Storage, tmp_path: Path) -> None:
    data = bytes(range(256)) * (40 * 1024 + 7)  # about 10 MB: multipart on S3
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    storage.put_file("big.bin", source)
    got = storage.download("big.bin", tmp_path / "copy.bin")

    assert got.size == len(data)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.path.read_bytes() == data


def test_a_stream_is_stored_with_its_size_and_sha256(storage: Storage) -> None:
    data = b"dump " * 3_000_000

    written = storage.put_stream("dump.bin", io.BufferedReader(io.BytesIO(data)))

    assert (written.size, written.sha256) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    with storage.open_read("dump.bin") as body:
        assert body.read(5) == b"dump "


def test_delete_removes_only_the_key(storage: Storage) -> None:
    storage.put_bytes("a", b"1")
    storage.put_bytes("b", b"2")

    storage.delete("a")
    storage.delete("a")

    assert [info.key for info in storage.list()] == ["b"]


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../x", "a//b", "", "./a", "a\\..\\b"]
)
def test_keys_outside_the_store_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(InputError, match="not a plain relative path"):
        check_key(key)
    with pytest.raises(InputError):
        storage.read_bytes(key)


def test_a_missing_object_is_named(storage: Storage) -> None:
    with pytest.raises(NotFoundError, match=r"absent\.bin: no such object"):
        storage.read_bytes("absent.bin")


def test_a_missing_store_is_named(tmp_path: Path, s3_env: str) -> None:
    with pytest.raises(NotFoundError, match="nowhere: store folder does not exist"):
        open_storage(tmp_path / "nowhere")
    with pytest.raises(NotFoundError, match="the bucket does not exist"):
        open_storage("s3://no-such-bucket-here/prefix")


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(InputError, match="scheme 'ftp' is not supported"):
        open_storage("ftp://host/backups")


def test_s3_keys_live_under_the_prefix(s3_bucket: str, s3_env: str) -> None:
    storage = open_storage(f"s3://{s3_bucket}/team/backups/")
    storage.put_bytes("x/manifest.json", b"{}")

    listed = boto3.client("s3", endpoint_url=s3_env).list_objects_v2(Bucket=s3_bucket)[
        "Contents"
    ]
    assert [item["Key"] for item in listed] == ["team/backups/x/manifest.json"]
    assert storage.describe("x") == f"s3://{s3_bucket}/team/backups/x"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("s3://", "is not a bucket name"),
        ("s3://Bad_Bucket/x", "is not a bucket name"),
        ("s3://bucket1/../x", "may not hold '.' or '..' parts"),
        ("", "no location given"),
    ],
)
def test_malformed_locations_are_refused(location: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_storage(location)


def test_dangling_links_in_a_local_store_are_left_out(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "store", create=True)
    storage.put_bytes("a/manifest.json", b"{}")
    (tmp_path / "store" / "latest").symlink_to("gone")

    assert [info.key for info in storage.list()] == ["a/manifest.json"]

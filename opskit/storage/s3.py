"""A store in an S3 bucket (or any S3-compatible server) through boto3.

Large objects move through boto3's transfer manager (multipart, several
connections), hashed on the stream; small ones such as manifests and records
are written with a conditional put, so an existing object is never replaced.
Retries with backoff come from botocore's standard retry mode.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from opskit.errors import InputError, NotFoundError, StorageError
from opskit.storage.interface import (
    Download,
    HashingReader,
    ObjectExists,
    ObjectInfo,
    Storage,
    Written,
    check_key,
)

logger = logging.getLogger(__name__)

ENDPOINT_ENV = "OPSKIT_S3_ENDPOINT_URL"
ATTEMPTS_ENV = "OPSKIT_S3_MAX_ATTEMPTS"
SMALL_OBJECT_BYTES = 8 * 1024 * 1024
TRANSFER = TransferConfig(
    multipart_threshold=SMALL_OBJECT_BYTES,
    multipart_chunksize=16 * 1024 * 1024,
    max_concurrency=4,
)
# Downloads are one GET streamed in order (hashed as it arrives), which the
# transfer manager retries on a broken stream; ranged parallel GETs gain
# nothing when the bytes are hashed in order anyway.
DOWNLOAD = TransferConfig(multipart_threshold=5 * 1024**4, num_download_attempts=5)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MISSING = {"404", "NoSuchKey", "NotFound"}
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ResponseStreamingError,
)


class S3Storage(Storage):
    """Objects under ``s3://bucket/prefix``."""

    def __init__(self, location: str, *, endpoint_url: str | None = None) -> None:
        self.location = location.rstrip("/")
        self.bucket, _, prefix = self.location.removeprefix("s3://").partition("/")
        if not _BUCKET.match(self.bucket):
            raise InputError(
                f"{location}: {self.bucket!r} is not a bucket name (3 to 63 lower-case "
                "letters, digits, dots and hyphens); write s3://bucket/prefix"
            )
        if any(part in (".", "..") for part in prefix.split("/")):
            raise InputError(f"{location}: the prefix may not hold '.' or '..' parts")
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = _client(endpoint_url or os.environ.get(ENDPOINT_ENV))
        self._check_bucket()

    def exists(self, key: str) -> bool:
        try:
            with self._translate(key):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._translate(prefix):
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"][len(self.prefix) :],
                        size=item["Size"],
                        modified=item["LastModified"],
                    )

    def open_read(self, key: str) -> BinaryIO:
        with self._translate(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return cast(BinaryIO, _Body(response["Body"], self, key))

    def download(self, key: str, dest: Path) -> Download:
        """Fetch ``key`` with the transfer manager, hashing the bytes in order."""
        with dest.open("wb") as out, self._translate(key):
            sink = _HashingWriter(out)
            self.client.download_fileobj(
                self.bucket, self._key(key), sink, Config=DOWNLOAD
            )
        return Download(path=dest, size=sink.size, sha256=sink.hexdigest())

    def put_file(self, key: str, path: Path, *, overwrite: bool = False) -> None:
        if path.stat().st_size <= SMALL_OBJECT_BYTES:
            with path.open("rb") as body:
                self._put_small(key, body, overwrite)
            return
        self._refuse_existing(key, overwrite)
        with self._translate(key):
            self.client.upload_file(
                str(path), self.bucket, self._key(key), Config=TRANSFER
            )

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        self._put_small(key, data, overwrite)

    def put_stream(self, key: str, stream: BinaryIO) -> Written:
        self._refuse_existing(key, overwrite=False)
        reader = HashingReader(stream)
        with self._translate(key):
            self.client.upload_fileobj(
                reader, self.bucket, self._key(key), Config=TRANSFER
            )
        return reader.written()

    def delete(self, key: str) -> None:
        with self._translate(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _put_small(self, key: str, body: Any, overwrite: bool) -> None:
        extra = {} if overwrite else {"IfNoneMatch": "*"}
        with self._translate(key):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, **extra
            )

    def _refuse_existing(self, key: str, overwrite: bool) -> None:
        if not overwrite and self.exists(key):
            raise ObjectExists(f"{self.describe(key)}: already exists")

    def _check_bucket(self) -> None:
        try:
            with self._translate(""):
                self.client.head_bucket(Bucket=self.bucket)
        except NotFoundError as exc:
            raise NotFoundError(
                f"{self.location}: the bucket does not exist; check the name"
            ) from exc

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _translate(self, key: str) -> Iterator[None]:
        """Turn boto3's errors into opskit's, naming the object."""
        where = self.describe(key)
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise _client_error(where, code, exc) from exc
        except _UNREACHABLE as exc:
            raise StorageError(
                f"{where}: the S3 endpoint stopped answering ({exc}) after retries; "
                "check the endpoint URL and network, then run again"
            ) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise StorageError(
                f"{where}: no AWS credentials found; set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"{where}: S3 request failed ({exc})") from exc


class _Body:
    """A streaming object body whose read errors are translated."""

    def __init__(self, body: Any, storage: S3Storage, key: str) -> None:
        self._body, self._storage, self._key = body, storage, key

    def read(self, size: int = -1) -> bytes:
        with self._storage._translate(self._key):
            return bytes(self._body.read(None if size < 0 else size))

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _HashingWriter:
    """A write-only, non-seekable sink, so the transfer manager writes in order."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _client(endpoint_url: str | None) -> Any:
    attempts = int(os.environ.get(ATTEMPTS_ENV, "5"))
    config = Config(
        retries={"max_attempts": attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


def _client_error(where: str, code: str, exc: Exception) -> Exception:
    if code in _MISSING:
        return NotFoundError(f"{where}: no such object")
    if code == "NoSuchBucket":
        return NotFoundError(f"{where}: the bucket does not exist; check the name")
    if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
        return ObjectExists(f"{where}: already exists")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return StorageError(f"{where}: access denied ({code}); check the credentials")
    return StorageError(f"{where}: S3 error {code}: {exc}")

"""Object storage behind one interface: keys are relative POSIX paths inside a
store, and objects are written whole, never partially visible.

``open_storage("./backups")`` gives a local folder and
``open_storage("s3://bucket/prefix")`` an S3 bucket; records and backups make
the same calls on either.
"""

from __future__ import annotations

from pathlib import Path

from opskit.errors import InputError
from opskit.storage.interface import (
    Download,
    ObjectExists,
    ObjectInfo,
    Storage,
    Written,
    check_key,
)
from opskit.storage.local import LocalStorage

__all__ = [
    "Download",
    "LocalStorage",
    "ObjectExists",
    "ObjectInfo",
    "Storage",
    "Written",
    "check_key",
    "open_storage",
]


def open_storage(
    location: str | Path, *, create: bool = False, endpoint_url: str | None = None
) -> Storage:
    """Open the store at ``location``: a folder path or ``s3://bucket/prefix``.

    ``create`` makes a missing local folder (an S3 bucket must exist).
    ``endpoint_url`` selects an S3-compatible server; it defaults to
    $OPSKIT_S3_ENDPOINT_URL, then to boto3's own configuration.
    """
    text = str(location)
    if not text.strip():
        raise InputError(
            "store: no location given; name a folder or s3://bucket/prefix"
        )
    if text.startswith("s3://"):
        from opskit.storage.s3 import S3Storage

        return S3Storage(text, endpoint_url=endpoint_url)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InputError(
            f"{text}: storage scheme {scheme!r} is not supported; "
            "use a folder path or s3://bucket/prefix"
        )
    return LocalStorage(text, create=create)

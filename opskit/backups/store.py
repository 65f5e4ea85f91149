"""Backups in a store: write them, find them, fetch and verify their components.

Layout: ``<store>/<backup_id>/manifest.json`` beside the components it names.
Backup ids begin with their UTC time, so ``latest`` is the greatest id that has
a manifest. The manifest is written last and deleted first, so a backup is
either complete or visibly incomplete.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from opskit.backups.engine import BackupRequest, get_engine
from opskit.backups.manifest import (
    MANIFEST_FILE,
    Component,
    Manifest,
    is_backup_id,
    new_backup_id,
    parse_manifest,
)
from opskit.errors import (
    BackupRejected,
    InputError,
    NotFoundError,
    OpskitError,
    suggest,
)
from opskit.phases import utc_now
from opskit.records import mask_text, sha256_file
from opskit.storage import Download, Storage, Written, open_storage

logger = logging.getLogger(__name__)

LATEST = "latest"


@dataclass(frozen=True)
class BackupProblem:
    """A backup that could not be read, and why."""

    backup_id: str
    reason: str


class BackupStore:
    """The backups kept in one store.

    >>> store = BackupStore.open("backups")
    >>> store.find("latest").taken_at
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def open(
        cls, location: str | Path, *, create: bool = False, endpoint_url: str = ""
    ) -> BackupStore:
        """Open the backup store at ``location``; raises ``NotFoundError`` if absent.

        ``endpoint_url`` names an S3-compatible server for ``s3://`` locations.
        """
        try:
            return cls(
                open_storage(location, create=create, endpoint_url=endpoint_url or None)
            )
        except NotFoundError as exc:
            if str(location).startswith("s3://"):
                raise NotFoundError(f"backup_store: {exc}") from exc
            raise NotFoundError(
                f"backup_store: {location} does not exist; give the folder or "
                "s3://bucket/prefix that holds the backups"
            ) from exc

    def backup_ids(self) -> list[str]:
        """Return the ids of complete backups (those with a manifest), oldest first.

        Folders not named like a backup id (copies made by hand) are ignored.
        """
        suffix = f"/{MANIFEST_FILE}"
        return sorted(
            info.key[: -len(suffix)]
            for info in self.storage.list()
            if info.key.endswith(suffix)
            and info.key.count("/") == 1
            and is_backup_id(info.key[: -len(suffix)])
        )

    def incomplete_ids(self) -> list[str]:
        """Folders holding components but no manifest: a backup being written,
        or one whose writing broke off. They are never drilled or pruned."""
        folders = {
            info.key.split("/", 1)[0] for info in self.storage.list() if "/" in info.key
        }
        return sorted(folders - set(self.backup_ids()) - self._unreadable_ids())

    def _unreadable_ids(self) -> set[str]:
        suffix = f"/{MANIFEST_FILE}"
        return {
            info.key[: -len(suffix)]
            for info in self.storage.list()
            if info.key.endswith(suffix) and not is_backup_id(info.key[: -len(suffix)])
        }

    def find(self, backup_id: str = LATEST) -> Manifest:
        """Return the manifest of ``backup_id``; ``latest`` means the newest backup."""
        ids = self.backup_ids()
        if backup_id == LATEST:
            if not ids:
                raise NotFoundError(
                    f"backup_store: {self.storage.location} holds no backups; "
                    "create one with `opskit backup create` or check the location"
                )
            backup_id = ids[-1]
        elif backup_id in self.incomplete_ids():
            raise BackupRejected(
                f"backup_id: {backup_id!r} has no manifest.json in "
                f"{self.storage.location}; the backup is incomplete"
            )
        elif backup_id not in ids:
            recent = ", ".join(ids[-3:]) or "none"
            raise NotFoundError(
                f"backup_id: {backup_id!r} is not in {self.storage.location}"
                f"{suggest(backup_id, ids)}; the newest are {recent}, or use 'latest'"
            )
        return self._read_manifest(backup_id)

    def manifests(self) -> tuple[list[Manifest], list[BackupProblem]]:
        """Every complete backup's manifest, oldest first, and those unreadable."""
        found, problems = [], []
        for backup_id in self.backup_ids():
            try:
                found.append(self._read_manifest(backup_id))
            except OpskitError as exc:
                problems.append(BackupProblem(backup_id, str(exc)))
        return found, problems

    def download(self, manifest: Manifest, workdir: Path) -> dict[str, Download]:
        """Fetch every component into ``workdir``, hashing each on the stream."""
        downloads = {}
        for index, component in enumerate(manifest.components):
            key = self._component_key(manifest, component)
            downloads[component.key] = self.storage.download(key, workdir / f"c{index}")
        return downloads

    def open_component(self, manifest: Manifest, component: Component) -> BinaryIO:
        """Open one component for streaming reads."""
        return self.storage.open_read(self._component_key(manifest, component))

    def verify(self, manifest: Manifest, downloads: dict[str, Download]) -> None:
        """Refuse the backup unless every component's size and sha256 match."""
        for component in manifest.components:
            got = downloads[component.key]
            verify_component(self.storage.describe(manifest.backup_id), component, got)

    def check(self, manifest: Manifest) -> None:
        """Download every component to a temporary folder and verify it."""
        with tempfile.TemporaryDirectory(prefix="opskit-verify-") as work:
            self.verify(manifest, self.download(manifest, Path(work)))

    def delete(self, manifest: Manifest) -> None:
        """Delete a backup: its manifest first, so it is never seen half-deleted."""
        self.storage.delete(f"{manifest.backup_id}/{MANIFEST_FILE}")
        for component in manifest.components:
            self.storage.delete(f"{manifest.backup_id}/{component.key}")
        logger.info("deleted backup %s", manifest.backup_id)

    def _component_key(self, manifest: Manifest, component: Component) -> str:
        key = f"{manifest.backup_id}/{component.key}"
        if not self.storage.exists(key):
            raise BackupRejected(
                f"{self.storage.describe(key)}: component named in the manifest "
                "is missing; the backup is incomplete"
            )
        return key

    def _read_manifest(self, backup_id: str) -> Manifest:
        key = f"{backup_id}/{MANIFEST_FILE}"
        where = self.storage.describe(key)
        manifest = parse_manifest(self.storage.read_bytes(key), where)
        if manifest.backup_id != backup_id:
            raise BackupRejected(
                f"{where}: field backup_id says {manifest.backup_id!r} but the "
                f"manifest sits in {backup_id!r}; the backup is damaged and is refused"
            )
        return manifest


class _Sink:
    """Writes the components of one new backup into its folder."""

    def __init__(self, storage: Storage, backup_id: str) -> None:
        self.storage, self.backup_id = storage, backup_id
        self.keys: list[str] = []

    def put_file(self, key: str, path: Path) -> Component:
        self.keys.append(key)
        self.storage.put_file(f"{self.backup_id}/{key}", path)
        return Component(key=key, size=path.stat().st_size, sha256=sha256_file(path))

    def put_stream(self, key: str, stream: BinaryIO) -> Component:
        self.keys.append(key)
        written = self.storage.put_stream(f"{self.backup_id}/{key}", stream)
        return Component(key=key, size=written.size, sha256=written.sha256)

    def remove_all(self) -> None:
        """Remove what was written; a failure here must not hide the first error."""
        for key in self.keys:
            try:
                self.storage.delete(f"{self.backup_id}/{key}")
            except OpskitError as exc:
                logger.warning("could not remove %s: %s", key, exc)


def create_backup(
    source: str,
    store: str | Path,
    *,
    engine: str = "sqlite",
    freshness_query: str = "",
    exclude: tuple[str, ...] = (),
    compression: int | None = None,
) -> Manifest:
    """Back up ``source`` with ``engine`` into the backup store at ``store``.

    A missing local store folder is created. Components are written first and
    the manifest last; if anything fails, what was written is removed.

    >>> create_backup("app.db", "backups", freshness_query=FRESHNESS_SQL)
    """
    chosen = get_engine(engine)
    _check_request(chosen.name, source, store, exclude)
    made_store = "://" not in str(store) and not Path(store).expanduser().exists()
    backups = BackupStore.open(store, create=True)
    started = utc_now()
    sink = _Sink(backups.storage, new_backup_id(started))
    request = BackupRequest(source, freshness_query, exclude, compression)
    try:
        with tempfile.TemporaryDirectory(prefix="opskit-backup-") as work:
            output = chosen.backup(request, sink, Path(work))
        _check_freshness(output.newest_data_at, output.taken_at or started)
        manifest = Manifest(
            backup_id=sink.backup_id,
            engine=chosen.name,
            source=mask_text(output.source),
            taken_at=output.taken_at or started,
            newest_data_at=output.newest_data_at,
            components=output.components,
            tables=output.tables,
            engine_info=output.engine_info,
        )
        backups.storage.put_bytes(
            f"{sink.backup_id}/{MANIFEST_FILE}",
            manifest.model_dump_json(indent=2).encode("utf-8"),
        )
    except BaseException:
        sink.remove_all()
        if made_store:
            shutil.rmtree(Path(store).expanduser(), ignore_errors=True)
        raise
    logger.info(
        "backup %s of %s written to %s",
        manifest.backup_id,
        manifest.source,
        backups.storage.location,
    )
    return manifest


def _check_request(
    engine: str, source: str, store: str | Path, exclude: tuple[str, ...]
) -> None:
    if exclude and engine != "directory":
        raise InputError(f"exclude: applies to folder backups, not the {engine} engine")
    if engine == "directory" and "://" not in str(store):
        root = Path(source).expanduser().resolve()
        target = Path(store).expanduser().resolve()
        if target == root or root in target.parents:
            raise InputError(
                f"store {store}: is inside the source folder {root}, so each backup "
                "would hold the ones before it; choose a store outside it"
            )


def _check_freshness(newest: datetime | None, taken_at: datetime) -> None:
    if newest is not None and (newest - taken_at).total_seconds() > 60:
        raise InputError(
            f"freshness_query: returned {newest.isoformat()}, after the backup was "
            f"taken ({taken_at.isoformat()}); the query or a clock is wrong"
        )


def verify_component(where: str, component: Component, got: Download | Written) -> None:
    """Refuse a component whose size or sha256 differs from the manifest."""
    if got.size != component.size:
        hint = "truncated" if got.size < component.size else "larger than recorded"
        raise BackupRejected(
            f"{where}/{component.key}: {got.size} bytes, the manifest says "
            f"{component.size}; the backup is {hint} and is refused"
        )
    if got.sha256 != component.sha256:
        raise BackupRejected(
            f"{where}/{component.key}: sha256 {got.sha256[:12]}… does not match "
            f"the manifest's {component.sha256[:12]}…; the backup is corrupt and "
            "is refused"
        )

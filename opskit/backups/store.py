"""Backups in a store: write them, find them, fetch and verify their components.

Layout: ``<store>/<backup_id>/manifest.json`` beside the components it names.
Backup ids begin with their UTC time, so ``latest`` is the greatest id that has
a manifest.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from opskit.backups.engine import get_engine
from opskit.backups.manifest import (
    MANIFEST_FILE,
    Component,
    Manifest,
    new_backup_id,
    parse_manifest,
)
from opskit.errors import BackupRejected, NotFoundError, suggest
from opskit.phases import utc_now
from opskit.records import mask_text, sha256_file
from opskit.storage import Download, Storage, open_storage

logger = logging.getLogger(__name__)

LATEST = "latest"


class BackupStore:
    """The backups kept in one store.

    >>> store = BackupStore.open("backups")
    >>> store.find("latest").taken_at
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def open(cls, location: str | Path, *, create: bool = False) -> BackupStore:
        """Open the backup store at ``location``; raises ``NotFoundError`` if absent."""
        try:
            return cls(open_storage(location, create=create))
        except NotFoundError as exc:
            raise NotFoundError(
                f"backup_store: {location} does not exist; give the folder or "
                "s3://bucket/prefix that holds the backups"
            ) from exc

    def backup_ids(self) -> list[str]:
        """Return the ids of complete backups (those with a manifest), oldest first."""
        suffix = f"/{MANIFEST_FILE}"
        return sorted(
            info.key[: -len(suffix)]
            for info in self.storage.list()
            if info.key.endswith(suffix) and info.key.count("/") == 1
        )

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
        elif backup_id not in ids:
            recent = ", ".join(ids[-3:]) or "none"
            raise NotFoundError(
                f"backup_id: {backup_id!r} is not in {self.storage.location}"
                f"{suggest(backup_id, ids)}; the newest are {recent}, or use 'latest'"
            )
        key = f"{backup_id}/{MANIFEST_FILE}"
        where = self.storage.describe(key)
        manifest = parse_manifest(self.storage.read_bytes(key), where)
        if manifest.backup_id != backup_id:
            raise BackupRejected(
                f"{where}: field backup_id says {manifest.backup_id!r} but the "
                f"manifest sits in {backup_id!r}; the backup is damaged and is refused"
            )
        return manifest

    def download(self, manifest: Manifest, workdir: Path) -> dict[str, Download]:
        """Fetch every component into ``workdir``, hashing each on the stream."""
        downloads = {}
        for index, component in enumerate(manifest.components):
            key = f"{manifest.backup_id}/{component.key}"
            if not self.storage.exists(key):
                raise BackupRejected(
                    f"{self.storage.describe(key)}: component named in the manifest "
                    "is missing; the backup is incomplete"
                )
            downloads[component.key] = self.storage.download(key, workdir / f"c{index}")
        return downloads

    def verify(self, manifest: Manifest, downloads: dict[str, Download]) -> None:
        """Refuse the backup unless every component's size and sha256 match."""
        for component in manifest.components:
            _verify_component(
                self.storage.describe(manifest.backup_id),
                component,
                downloads[component.key],
            )

    def write(self, manifest: Manifest, files: dict[str, Path]) -> None:
        """Upload component ``files`` then the manifest, never overwriting."""
        for key, path in files.items():
            self.storage.put_file(f"{manifest.backup_id}/{key}", path)
        self.storage.put_bytes(
            f"{manifest.backup_id}/{MANIFEST_FILE}",
            manifest.model_dump_json(indent=2).encode("utf-8"),
        )


def create_backup(
    source: str, store: str | Path, *, engine: str = "sqlite", freshness_query: str = ""
) -> Manifest:
    """Back up ``source`` with ``engine`` into the backup store at ``store``.

    The store folder is created when missing. Returns the manifest written.

    >>> create_backup("app.db", "backups", freshness_query=FRESHNESS_SQL)
    """
    backups = BackupStore.open(store, create=True)
    chosen = get_engine(engine)
    taken_at = utc_now()
    with tempfile.TemporaryDirectory(prefix="opskit-backup-") as work:
        output = chosen.backup(source, Path(work), freshness_query)
        components = [
            Component(key=key, size=path.stat().st_size, sha256=sha256_file(path))
            for key, path in sorted(output.files.items())
        ]
        manifest = Manifest(
            backup_id=new_backup_id(taken_at),
            engine=chosen.name,
            source=mask_text(output.source),
            taken_at=taken_at,
            newest_data_at=output.newest_data_at,
            components=components,
            tables=output.tables,
            engine_info=output.engine_info,
        )
        backups.write(manifest, output.files)
    logger.info(
        "backup %s of %s written to %s",
        manifest.backup_id,
        manifest.source,
        backups.storage.location,
    )
    return manifest


def _verify_component(where: str, component: Component, download: Download) -> None:
    if download.size != component.size:
        hint = "truncated" if download.size < component.size else "larger than recorded"
        raise BackupRejected(
            f"{where}/{component.key}: {download.size} bytes, the manifest says "
            f"{component.size}; the backup is {hint} and is refused"
        )
    if download.sha256 != component.sha256:
        raise BackupRejected(
            f"{where}/{component.key}: sha256 {download.sha256[:12]}… does not match "
            f"the manifest's {component.sha256[:12]}…; the backup is corrupt and "
            "is refused"
        )

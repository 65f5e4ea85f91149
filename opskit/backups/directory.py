"""The directory engine: a folder (uploads, configuration) as a gzip-compressed
tar archive plus an index of every file's size and sha256.

Extraction trusts nothing in the archive: absolute names, ``..``, links that
lead outside the target and device files are refused before anything is
written, and Python's ``data`` extraction filter checks again.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, cast

from opskit.backups.engine import (
    BackupOutput,
    BackupRequest,
    ComponentSink,
    Engine,
    RestoreOptions,
    Validation,
    first_missing_folder,
    register_engine,
    require_components,
)
from opskit.backups.manifest import Manifest
from opskit.errors import BackupRejected, InputError, UnsafeTargetError
from opskit.records import Check, CheckStatus, sha256_file
from opskit.storage.interface import HashingReader

logger = logging.getLogger(__name__)

ARCHIVE = "files.tar.gz"
INDEX = "index.json"


@dataclass(frozen=True)
class Entry:
    """One file of the backed-up folder, by path relative to it."""

    path: str
    size: int
    sha256: str


@register_engine
class DirectoryEngine(Engine):
    """Backs up and restores one folder."""

    name = "directory"

    def __init__(self) -> None:
        self._made_scratch: Path | None = None
        self._made_target: Path | None = None
        self._index: list[Entry] = []

    def backup(
        self, request: BackupRequest, sink: ComponentSink, workdir: Path
    ) -> BackupOutput:
        """Archive the folder, skipping excluded paths, special files and links
        that lead outside it; hash each file as it is archived."""
        root = Path(request.source).expanduser().resolve()
        if not root.is_dir():
            raise InputError(f"source {root}: not a folder; give the folder to back up")

        if request.freshness_query:
            raise InputError(
                "freshness_query: applies to databases, not folder backups; "
                "the newest file time is recorded instead"
            )

        archive, index = workdir / ARCHIVE, workdir / INDEX
        level = 6 if request.compression is None else request.compression
        with tarfile.open(archive, "w:gz", compresslevel=level) as tar:
            walk = _Walk(tar, root, request.exclude)
            walk.run()
        entries, skipped = walk.entries, walk.skipped
        if not entries:
            raise InputError(
                f"source {root}: holds no files to back up; check that it is the "
                "right folder and that it is mounted"
            )
        for pattern in sorted(set(request.exclude) - walk.matched):
            logger.warning("exclude pattern %r matched nothing in %s", pattern, root)
        index.write_text(json.dumps([e.__dict__ for e in entries], indent=1))

        components = [sink.put_file(ARCHIVE, archive), sink.put_file(INDEX, index)]
        total = sum(e.size for e in entries)
        mtimes = [(root / e.path).stat().st_mtime for e in entries]
        logger.info(
            "directory backup of %s: %d files, %d bytes", root, len(entries), total
        )
        return BackupOutput(
            components=components,
            source=str(root),
            newest_data_at=datetime.fromtimestamp(max(mtimes), UTC) if mtimes else None,
            engine_info={
                "files": len(entries),
                "bytes": total,
                "exclude": list(request.exclude),
                "exclude_unmatched": sorted(set(request.exclude) - walk.matched),
                "skipped": skipped,
            },
        )

    def plan_target(self, manifest: Manifest, options: RestoreOptions) -> str:
        """Restore into ``<scratch>/<backup_id>``, a new folder outside the source."""
        if options.sql_checks or options.freshness_query:
            raise InputError(
                "sql_checks, freshness_query: apply to databases, not folder "
                "backups; leave them empty for this backup"
            )
        if options.scratch:
            scratch = Path(options.scratch).expanduser().resolve()
        else:
            scratch = self._made_scratch = Path(
                tempfile.mkdtemp(prefix="opskit-scratch-")
            )
        target = scratch / manifest.backup_id
        source = Path(manifest.source)
        if target == source or source in target.parents:
            raise UnsafeTargetError(
                f"scratch: {target} is inside the source folder {source}; "
                "choose a scratch location outside it"
            )
        if target.exists():
            raise UnsafeTargetError(
                f"scratch: {target} already exists; choose an empty scratch location"
            )
        if self._made_scratch is None:
            self._made_scratch = first_missing_folder(scratch)
        return str(target)

    def restore(
        self,
        manifest: Manifest,
        files: dict[str, Path],
        target: str,
        options: RestoreOptions,
    ) -> None:
        """Check every member, then extract into ``target``."""
        require_components(manifest, ARCHIVE, INDEX)
        self._index = _read_index(files[INDEX])
        root = Path(target)
        with tarfile.open(files[ARCHIVE], "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root)
            root.mkdir(parents=True)
            self._made_target = root
            tar.extractall(root, members=members, filter="data")

    def validate(
        self, manifest: Manifest, target: str, options: RestoreOptions
    ) -> Validation:
        """Compare the file count, total bytes and every file's sha256."""
        root = Path(target)
        found = {
            path.relative_to(root).as_posix(): path
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.is_symlink()
        }
        expected_bytes = sum(e.size for e in self._index)
        actual_bytes = sum(p.stat().st_size for p in found.values())
        wrong = [e.path for e in self._index if not _matches(e, found.get(e.path))]
        checks = [
            _check("files", len(self._index), len(found)),
            _check("bytes", expected_bytes, actual_bytes),
            Check(
                name="sha256",
                status=CheckStatus.FAILED if wrong else CheckStatus.PASSED,
                expected=len(self._index),
                actual=len(self._index) - len(wrong),
                detail=("differ or missing: " + ", ".join(wrong[:5])) if wrong else "",
            ),
        ]
        return Validation(checks=checks, restored_bytes=actual_bytes)

    def discard(self, target: str) -> None:
        """Remove the restored folder and a scratch folder this drill made."""
        if self._made_target is not None:
            shutil.rmtree(self._made_target, ignore_errors=True)
        if self._made_scratch is not None:
            shutil.rmtree(self._made_scratch, ignore_errors=True)


class _Walk:
    """One pass over the source folder, collecting entries and what was skipped."""

    def __init__(self, tar: tarfile.TarFile, root: Path, exclude: tuple[str, ...]):
        self.tar, self.root, self.exclude = tar, root, exclude
        self.entries: list[Entry] = []
        self.skipped: list[str] = []
        self.matched: set[str] = set()

    def run(self) -> None:
        for dirpath, dirnames, filenames in os.walk(
            self.root, onerror=self._unreadable
        ):
            folder = Path(dirpath)
            if folder != self.root:
                self.tar.add(
                    str(folder), arcname=self._relative(folder), recursive=False
                )
            names = sorted(dirnames + filenames)
            dirnames[:] = [
                d
                for d in sorted(dirnames)
                if not (folder / d).is_symlink() and not self._excluded(folder / d)
            ]
            for name in names:
                path = folder / name
                if name in dirnames or self._excluded(path):
                    continue
                self._add(path)

    def _add(self, path: Path) -> None:
        relative = self._relative(path)
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            self._add_link(path, relative)
        elif not stat.S_ISREG(mode):
            self._skip(relative, "not a regular file")
        else:
            try:
                self.entries.append(_add_file(self.tar, path, relative))
            except OSError as exc:
                self._skip(relative, f"cannot be read ({exc.strerror})")

    def _add_link(self, path: Path, relative: str) -> None:
        """Keep a link that stays inside the folder, rewritten to be relative."""
        target = (path.parent / os.readlink(path)).resolve()
        if target != self.root and self.root not in target.parents:
            self._skip(relative, "link leads outside the folder")
            return
        info = self.tar.gettarinfo(str(path), arcname=relative)
        info.linkname = os.path.relpath(target, path.parent.resolve())
        self.tar.addfile(info)

    def _excluded(self, path: Path) -> bool:
        relative = self._relative(path)
        hits = {
            p
            for p in self.exclude
            if fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(path.name, p)
        }
        self.matched |= hits
        return bool(hits)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _skip(self, relative: str, reason: str) -> None:
        self.skipped.append(f"{relative}: {reason}")
        logger.warning("skipped %s: %s", relative, reason)

    def _unreadable(self, error: OSError) -> None:
        self._skip(
            self._relative(Path(str(error.filename))),
            f"cannot be read ({error.strerror})",
        )


def _add_file(tar: tarfile.TarFile, path: Path, relative: str) -> Entry:
    info = tar.gettarinfo(str(path), arcname=relative)
    with path.open("rb") as handle:
        reader = HashingReader(handle)
        tar.addfile(info, cast(BinaryIO, reader))
    return Entry(path=relative, size=info.size, sha256=reader.written().sha256)


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    """Refuse a member that would write outside ``root`` or make a device."""
    name = PurePosixPath(member.name)
    problem = ""
    if name.is_absolute() or ".." in name.parts:
        problem = "absolute or '..' path"
    elif (
        member.isdev()
        or member.isfifo()
        or not (member.isfile() or member.isdir() or member.issym() or member.islnk())
    ):
        problem = "device or special file"
    elif member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        base = PurePosixPath(*name.parts[:-1]) if member.issym() else PurePosixPath()
        resolved = os.path.normpath(str(base / link))
        if link.is_absolute() or resolved == ".." or resolved.startswith("../"):
            problem = f"link to {member.linkname!r} leads outside the target"
    if problem:
        raise BackupRejected(
            f"{ARCHIVE}: member {member.name!r}: {problem}; the archive is unsafe "
            f"and nothing was extracted into {root}"
        )


def _read_index(path: Path) -> list[Entry]:
    try:
        return [Entry(**item) for item in json.loads(path.read_text())]
    except (ValueError, TypeError) as exc:
        raise BackupRejected(f"{INDEX}: not a valid file index ({exc})") from exc


def _matches(entry: Entry, path: Path | None) -> bool:
    return (
        path is not None
        and path.stat().st_size == entry.size
        and (sha256_file(path) == entry.sha256)
    )


def _check(name: str, expected: int, actual: int) -> Check:
    status = CheckStatus.PASSED if expected == actual else CheckStatus.FAILED
    return Check(name=name, status=status, expected=expected, actual=actual)

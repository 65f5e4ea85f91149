"""The directory engine: folders archived with an index, and archives that try
to write outside their target refused before anything is extracted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from opskit.backups.drill import run_drill
from opskit.backups.manifest import Manifest
from opskit.backups.store import create_backup
from opskit.errors import InputError
from opskit.records import RecordStatus


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    root = tmp_path / "uploads"
    (root / "img").mkdir(parents=True)
    (root / "img" / "logo.png").write_bytes(bytes(range(256)) * 40)
    (root / "config.yaml").write_text("feature: on\n")
    (root / "cache").mkdir()
    (root / "cache" / "page.html").write_text("<html>")
    (root / "notes.tmp").write_text("scratch")
    (root / "latest").symlink_to("img/logo.png")
    (root / "passwd").symlink_to("/etc/passwd")
    return root


def backup_of(uploads: Path, store: Path) -> Manifest:
    return create_backup(
        str(uploads), store, engine="directory", exclude=("cache", "*.tmp")
    )


def test_the_manifest_counts_files_and_bytes_without_excluded_ones(
    uploads: Path, tmp_path: Path
) -> None:
    manifest = backup_of(uploads, tmp_path / "b")

    info = manifest.engine_info
    assert (info["files"], info["bytes"]) == (2, 256 * 40 + 12)
    assert info["skipped"] == ["passwd: link leads outside the folder"]
    index = json.loads((tmp_path / "b" / manifest.backup_id / "index.json").read_text())
    assert sorted(e["path"] for e in index) == ["config.yaml", "img/logo.png"]
    assert manifest.newest_data_at is not None


def test_a_drill_restores_every_file_exactly(uploads: Path, tmp_path: Path) -> None:
    backup_of(uploads, tmp_path / "b")

    result = run_drill(
        service="uploads",
        backup_store=str(tmp_path / "b"),
        scratch=str(tmp_path / "scratch"),
        keep_scratch=True,
    )

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert [(c.name, c.actual) for c in result.record.checks] == [
        ("files", 2),
        ("bytes", 256 * 40 + 12),
        ("sha256", 2),
    ]
    restored = Path(result.record.details["scratch_target"])
    assert (restored / "img" / "logo.png").read_bytes() == bytes(range(256)) * 40
    assert os.readlink(restored / "latest") == "img/logo.png"
    assert not (restored / "cache").exists()


def test_a_scratch_inside_the_source_is_refused(uploads: Path, tmp_path: Path) -> None:
    backup_of(uploads, tmp_path / "b")

    result = run_drill(
        service="uploads", backup_store=str(tmp_path / "b"), scratch=str(uploads)
    )

    assert result.status is RecordStatus.ERROR
    assert "inside the source folder" in result.record.reason


def member(name: str, **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, b"x" * int(fields.get("size", 0))


HOSTILE: dict[str, Callable[[], tuple[tarfile.TarInfo, bytes]]] = {
    "dotdot": lambda: member("../escaped.txt", size=1),
    "absolute": lambda: member("/tmp/opskit-absolute.txt", size=1),
    "link-out": lambda: member("evil", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
    "link-up": lambda: member("a/evil", type=tarfile.SYMTYPE, linkname="../../x"),
    "hardlink-out": lambda: member("h", type=tarfile.LNKTYPE, linkname="../../etc/x"),
    "device": lambda: member("disk", type=tarfile.BLKTYPE, devmajor=8, devminor=0),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_before_extraction(
    uploads: Path, tmp_path: Path, kind: str
) -> None:
    manifest = backup_of(uploads, tmp_path / "b")
    folder = tmp_path / "b" / manifest.backup_id
    hostile, data = HOSTILE[kind]()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("innocent.txt"), io.BytesIO(b""))
        tar.addfile(hostile, io.BytesIO(data) if hostile.isfile() else None)
    (folder / "files.tar.gz").write_bytes(buffer.getvalue())
    document = json.loads((folder / "manifest.json").read_text())
    document["components"][0].update(
        size=len(buffer.getvalue()),
        sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
    )
    (folder / "manifest.json").write_text(json.dumps(document))

    result = run_drill(
        service="uploads",
        backup_store=str(tmp_path / "b"),
        scratch=str(tmp_path / "scratch"),
    )

    assert result.status is RecordStatus.FAILED
    assert f"member {hostile.name!r}" in result.record.reason
    assert "nothing was extracted" in result.record.reason
    assert not (tmp_path / "scratch" / manifest.backup_id).exists()
    assert not (tmp_path / "scratch" / "escaped.txt").exists()
    assert not Path("/tmp/opskit-absolute.txt").exists()


def test_a_changed_file_fails_the_hash_check(uploads: Path, tmp_path: Path) -> None:
    manifest = backup_of(uploads, tmp_path / "b")
    folder = tmp_path / "b" / manifest.backup_id
    index = json.loads((folder / "index.json").read_text())
    index[0]["sha256"] = "0" * 64
    (folder / "index.json").write_bytes(json.dumps(index).encode())
    document = json.loads((folder / "manifest.json").read_text())
    data = (folder / "index.json").read_bytes()
    document["components"][1].update(
        size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    (folder / "manifest.json").write_text(json.dumps(document))

    result = run_drill(service="uploads", backup_store=str(tmp_path / "b"))

    assert result.status is RecordStatus.FAILED
    sha = next(c for c in result.record.checks if c.name == "sha256")
    assert sha.detail == f"differ or missing: {index[0]['path']}"


def test_a_source_that_is_not_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        create_backup(str(tmp_path / "missing"), tmp_path / "b", engine="directory")


def test_folders_the_drill_made_are_removed(uploads: Path, tmp_path: Path) -> None:
    backup_of(uploads, tmp_path / "b")

    result = run_drill(
        service="uploads",
        backup_store=str(tmp_path / "b"),
        scratch=str(tmp_path / "new" / "deeper"),
    )

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert not (tmp_path / "new").exists()


def test_links_and_empty_folders_are_kept_or_listed(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    (root / "empty").mkdir()
    (root / "dirlink").symlink_to("sub")
    (root / "etc").symlink_to("/etc")
    (root / "absolute").symlink_to(root / "sub" / "a.txt")
    (root / "roundtrip").symlink_to("../site/sub/a.txt")
    manifest = create_backup(str(root), tmp_path / "b", engine="directory")

    result = run_drill(
        service="site",
        backup_store=str(tmp_path / "b"),
        scratch=str(tmp_path / "scratch"),
        keep_scratch=True,
    )

    assert manifest.engine_info["skipped"] == ["etc: link leads outside the folder"]
    assert result.status is RecordStatus.PASSED, result.record.reason
    restored = Path(result.record.details["scratch_target"])
    assert (restored / "empty").is_dir()
    assert os.readlink(restored / "dirlink") == "sub"
    assert (restored / "absolute").read_text() == "a"
    assert os.readlink(restored / "roundtrip") == "sub/a.txt"


def test_an_empty_folder_is_not_backed_up(tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()

    with pytest.raises(InputError, match="holds no files to back up"):
        create_backup(str(tmp_path / "mnt"), tmp_path / "b", engine="directory")


def test_database_checks_are_refused_for_folders(uploads: Path, tmp_path: Path) -> None:
    backup_of(uploads, tmp_path / "b")

    result = run_drill(
        service="uploads",
        backup_store=str(tmp_path / "b"),
        sql_checks={"a": {"sql": "select 0", "expected": 1}},
    )

    assert result.status is RecordStatus.ERROR
    assert "apply to databases, not folder backups" in result.record.reason

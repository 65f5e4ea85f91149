"""Run a notebook with papermill and file it, rendered, beside its record.

The notebook hands its record to the runner through $OPSKIT_RECORD_DRAFT; the
runner then saves the executed notebook (complete or partial), an HTML
rendering and the record together, so every run leaves one record folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from opskit.errors import (
    InputError,
    NotebookError,
    NotFoundError,
    ParameterError,
    suggest,
)
from opskit.notify import NOTIFY_ENV, notify_record, resolve_url
from opskit.phases import PhaseTimer, utc_now
from opskit.record_store import DRAFT_FILES
from opskit.records import (
    DRAFT_ENV,
    STARTED_BY_ENV,
    Record,
    RecordStatus,
    RecordStore,
    current_environment,
    mask_parameters,
    parse_record,
    resolve_store_location,
    started_by,
)

logger = logging.getLogger(__name__)

DEFAULT_CELL_TIMEOUT = 600
KERNEL = "python3"
_FAILURE_NAMES = ("DrillFailed", "DrillError", "ReviewFailed", "ReviewError")


@dataclass(frozen=True)
class RunOutcome:
    """A filed notebook run: its record and the record folder's location."""

    record: Record
    location: str


def kernel_config() -> Config:
    """Kernel settings for every notebook opskit runs: the kernel runs on this
    host, and its connection is encrypted when the kernel supports it."""
    return Config({"KernelManager": {"transport_encryption": "auto"}})


def notebook_dirs() -> list[Path]:
    """Folders searched for notebooks given by name, in order."""
    here = Path(__file__).resolve().parent
    return [here.parent / "notebooks", here / "_notebooks"]


def find_notebook(name: str) -> Path:
    """Resolve a notebook name (``restore_drill``) or path to an ``.ipynb`` file."""
    given = Path(name)
    if given.suffix == ".ipynb":
        if given.is_file():
            return given
        raise NotFoundError(f"notebook {name}: no such file; check the path")

    known: dict[str, Path] = {}
    for folder in notebook_dirs():
        for path in sorted(folder.glob("*.ipynb")):
            known.setdefault(path.stem, path)
    if name not in known:
        raise NotFoundError(
            f"notebook {name!r}: not found{suggest(name, known)}; "
            f"known notebooks are {', '.join(sorted(known)) or 'none'}"
        )
    return known[name]


def declared_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """Return the parameters declared in the notebook's ``parameters`` cell."""
    try:
        found = papermill.inspect_notebook(str(path))
    except (ValueError, OSError, nbformat.ValidationError) as exc:
        raise InputError(
            f"notebook {path}: not a readable notebook ({exc}); give an .ipynb file"
        ) from exc
    except (TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            f"notebook {path}: JSON, but not the notebook format (cells, "
            "metadata); save it from Jupyter again"
        ) from exc
    return {str(name): dict(info) for name, info in found.items()}


def check_parameters(path: Path, parameters: dict[str, Any]) -> None:
    """Refuse parameter names the notebook does not declare, suggesting close ones."""
    declared = declared_parameters(path)
    for name in parameters:
        if name not in declared:
            takes = ", ".join(declared) or "none (it has no cell tagged parameters)"
            raise ParameterError(
                f"parameter {name}: {path.name} has no such parameter"
                f"{suggest(name, declared)}; the parameters it takes: {takes}"
            )


def run_notebook(
    notebook: str,
    parameters: dict[str, Any],
    *,
    record_store: str | None = None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    progress: bool = False,
    notify: str | None = None,
    notify_options: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Execute ``notebook`` with papermill and file it with its record.

    Each cell may run ``cell_timeout`` seconds. A notebook that breaks is kept
    as far as it ran, and its record says ``error`` and why. A run that ends
    failed or error is announced to the webhook ``notify`` (default
    $OPSKIT_NOTIFY_URL) before its record is saved, and the record notes the
    delivery; ``notify_options`` go to ``opskit.notify.post``. Notifying adds
    at most ``opskit.notify.time_bound()`` seconds (35 s with the defaults).
    """
    webhook = resolve_url(notify)
    path = find_notebook(notebook)
    check_parameters(path, parameters)
    store = RecordStore.open(record_store, create=True)
    parameters = (
        {**parameters, "record_store": resolve_store_location(record_store)}
        if "record_store" in declared_parameters(path)
        else dict(parameters)
    )

    with tempfile.TemporaryDirectory(prefix="opskit-run-") as tmp:
        staging = Path(tmp)
        timer, failure = (
            PhaseTimer(),
            _execute(path, staging, parameters, cell_timeout, progress),
        )
        record = _final_record(path, staging, parameters, timer, failure)
        where = store.storage.describe(record.folder())
        record = notify_record(record, where, webhook, **(notify_options or {}))
        files = _handed_files(staging)
        files["notebook.ipynb"] = staging / "notebook.ipynb"
        if files["notebook.ipynb"].exists():
            files["report.html"] = _render_html(files["notebook.ipynb"], staging)
        location = store.save(record, files)
    return RunOutcome(record=store.load(record.folder()).record, location=location)


def _handed_files(staging: Path) -> dict[str, Path]:
    """Files the notebook handed over with its record (see ``file_record``);
    only with a record it handed over, never with one the runner made."""
    folder = staging / DRAFT_FILES
    if not (staging / "record.json").exists() or not folder.is_dir():
        return {}
    return {path.name: path for path in sorted(folder.iterdir()) if path.is_file()}


def _execute(
    path: Path,
    staging: Path,
    parameters: dict[str, Any],
    cell_timeout: int,
    progress: bool,
) -> BaseException | None:
    env = {
        DRAFT_ENV: str(staging / "record.json"),
        STARTED_BY_ENV: f"{started_by()} via opskit run",
    }
    saved = {key: os.environ.get(key) for key in (*env, NOTIFY_ENV)}
    os.environ.update(env)
    os.environ.pop(NOTIFY_ENV, None)  # the kernel never needs the webhook secret
    logger.info("running %s with %s", path.name, sorted(parameters))
    try:
        papermill.execute_notebook(
            str(path),
            str(staging / "notebook.ipynb"),
            parameters=parameters,
            kernel_name=KERNEL,
            execution_timeout=cell_timeout,
            progress_bar=progress,
            cwd=os.getcwd(),
            config=kernel_config(),
        )
    except PapermillExecutionError as exc:
        return cast(BaseException, exc)
    except KeyboardInterrupt as exc:
        logger.warning("run of %s interrupted", path.name)
        return exc
    except Exception as exc:
        logger.warning("notebook %s did not run: %s", path.name, exc)
        return exc
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return None


def _final_record(
    path: Path,
    staging: Path,
    parameters: dict[str, Any],
    timer: PhaseTimer,
    failure: BaseException | None,
) -> Record:
    status = _status_of(failure)
    draft = staging / "record.json"
    if draft.exists():
        record = parse_record(draft.read_bytes(), f"record handed over by {path.name}")
        if failure is None or _is_verdict(failure, record):
            return record
        return record.model_copy(
            update={
                "status": status,
                "reason": f"{_describe(failure)} (after the run had ended "
                f"{record.status.value})",
            }
        )

    return Record(
        kind=_notebook_kind(path),
        name=str(parameters.get("service") or path.stem),
        started_by=started_by(),
        started_at=timer.started_at,
        ended_at=utc_now(),
        status=status,
        reason=_describe(failure)
        if failure
        else f"{path.name} handed over no record; it must call file_record",
        parameters=mask_parameters(parameters),
        environment=current_environment(),
    )


def _status_of(failure: BaseException | None) -> RecordStatus:
    if isinstance(failure, KeyboardInterrupt) or (
        isinstance(failure, PapermillExecutionError)
        and failure.ename == "KeyboardInterrupt"
    ):
        return RecordStatus.ABORTED
    return RecordStatus.ERROR


def _is_verdict(failure: BaseException, record: Record) -> bool:
    """A run that raised only to report its own outcome keeps that outcome."""
    return (
        isinstance(failure, PapermillExecutionError)
        and failure.ename in _FAILURE_NAMES
        and record.status is not RecordStatus.PASSED
    )


def _describe(failure: BaseException) -> str:
    if isinstance(failure, KeyboardInterrupt):
        return "interrupted (Ctrl-C or SIGTERM) before the notebook finished"
    if isinstance(failure, PapermillExecutionError):
        return f"cell {failure.exec_count} raised {failure.ename}: {failure.evalue}"
    if (
        "timed out" in str(failure).lower()
        or type(failure).__name__ == "CellTimeoutError"
    ):
        first = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
        return f"a cell ran past the per-cell timeout ({first})"
    return f"notebook did not run: {type(failure).__name__}: {failure}"


def _notebook_kind(path: Path) -> str:
    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        kind = notebook.metadata.get("opskit", {}).get("kind")
    except Exception:
        kind = None
    return str(kind or path.stem.replace("_", "-"))


def _render_html(notebook: Path, staging: Path) -> Path:
    try:
        exporter = HTMLExporter()  # type: ignore[no-untyped-call]
        body, _ = exporter.from_filename(str(notebook))
    except Exception as exc:
        raise NotebookError(f"{notebook.name}: cannot render HTML ({exc})") from exc
    out = staging / "report.html"
    out.write_text(body, encoding="utf-8")
    return out

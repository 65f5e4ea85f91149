"""Records: the evidence of one run, and the store that keeps them.

>>> store = RecordStore.open("records")
>>> [s.record.status for s in store.find(kind="restore-drill")]
"""

from __future__ import annotations

from opskit.masking import MASK, mask_parameters, mask_text
from opskit.record_model import (
    SCHEMA_VERSION,
    STARTED_BY_ENV,
    Artifact,
    Check,
    CheckStatus,
    Environment,
    Finding,
    Record,
    RecordStatus,
    Severity,
    TimelineEntry,
    current_environment,
    parse_record,
    record_schema,
    started_by,
)
from opskit.record_store import (
    DEFAULT_STORE,
    DRAFT_ENV,
    RECORD_FILE,
    STORE_ENV,
    RecordStore,
    StoredRecord,
    file_record,
    resolve_store_location,
    sha256_file,
    split_location,
    verify_folder,
)

__all__ = [
    "DEFAULT_STORE",
    "DRAFT_ENV",
    "MASK",
    "RECORD_FILE",
    "SCHEMA_VERSION",
    "STARTED_BY_ENV",
    "STORE_ENV",
    "Artifact",
    "Check",
    "CheckStatus",
    "Environment",
    "Finding",
    "Record",
    "RecordStatus",
    "RecordStore",
    "Severity",
    "StoredRecord",
    "TimelineEntry",
    "current_environment",
    "file_record",
    "mask_parameters",
    "mask_text",
    "parse_record",
    "record_schema",
    "resolve_store_location",
    "sha256_file",
    "split_location",
    "started_by",
    "verify_folder",
]

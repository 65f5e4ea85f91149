"""opskit: runbooks and restore drills as notebooks that leave records.

Notebook-facing helpers are exported here::

    import opskit
    result = opskit.run_drill(service="orders", backup_store="backups", tier="critical")
"""

from __future__ import annotations

__version__ = "0.1.0"

from opskit.backups.drill import run_drill
from opskit.backups.result import DrillResult
from opskit.backups.store import BackupStore, create_backup
from opskit.records import Record, RecordStore, file_record
from opskit.security.review import ReviewResult, run_review
from opskit.targets import get_tier, load_tiers

__all__ = [
    "BackupStore",
    "DrillResult",
    "Record",
    "RecordStore",
    "ReviewResult",
    "__version__",
    "create_backup",
    "file_record",
    "get_tier",
    "load_tiers",
    "run_drill",
    "run_review",
]

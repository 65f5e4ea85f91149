"""The embedded default: a small shop database that an application keeps
writing to, so a drill has something realistic to back up and restore.

Row counts come from a fixed seed, so a fresh demo always holds the same data
apart from its timestamps, which trail the current time like a live system's.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from opskit.backups.manifest import Manifest
from opskit.backups.store import create_backup
from opskit.errors import InputError
from opskit.health import (
    CallableCheck,
    HealthCheck,
    HealthStatus,
    SqliteCheck,
)
from opskit.phases import utc_now

logger = logging.getLogger(__name__)

SERVICE = "demo"
FRESHNESS_QUERY = "select max(updated_at) from orders"

_SCHEMA = """
create table customers (
    id integer primary key, email text not null unique, name text not null,
    created_at text not null
);
create table products (
    id integer primary key, sku text not null unique, title text not null,
    price_cents integer not null
);
create table orders (
    id integer primary key, customer_id integer not null references customers(id),
    status text not null, total_cents integer not null,
    created_at text not null, updated_at text not null
);
create table order_items (
    id integer primary key, order_id integer not null references orders(id),
    product_id integer not null references products(id), quantity integer not null
);
create index orders_updated on orders(updated_at);
"""


@dataclass(frozen=True)
class Demo:
    """A prepared demo: the application database and a backup of it."""

    database: Path
    backup_store: Path
    manifest: Manifest
    freshness_query: str = FRESHNESS_QUERY


def create_demo_database(
    path: Path, *, seed: int = 7, customers: int = 400, orders: int = 2500
) -> None:
    """Create the shop database at ``path`` with seeded data ending now (UTC)."""
    rng = random.Random(seed)
    now = utc_now()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("pragma journal_mode = wal")
        db.executescript(_SCHEMA)
        db.executemany(
            "insert into customers values (?, ?, ?, ?)",
            [
                (
                    i,
                    f"customer{i}@example.com",
                    f"Customer {i}",
                    _stamp(now - timedelta(days=90 - i * 60 / customers)),
                )
                for i in range(1, customers + 1)
            ],
        )
        db.executemany(
            "insert into products values (?, ?, ?, ?)",
            [
                (i, f"SKU-{i:04d}", f"Product {i}", rng.randint(199, 19999))
                for i in range(1, 61)
            ],
        )
        _write_orders(
            db,
            rng,
            now,
            first_id=1,
            count=orders,
            customers=customers,
            span=timedelta(days=30),
        )
    logger.info("demo database created at %s", path)


def simulate_writes(path: Path, *, count: int = 50, seed: int | None = None) -> None:
    """Append ``count`` orders stamped in the last minute, as the app would."""
    rng = random.Random(seed)
    with closing(sqlite3.connect(path)) as db, db:
        first = db.execute("select coalesce(max(id), 0) + 1 from orders").fetchone()[0]
        customers = db.execute("select count(*) from customers").fetchone()[0]
        _write_orders(
            db,
            rng,
            utc_now(),
            first_id=first,
            count=count,
            customers=customers,
            span=timedelta(minutes=1),
        )


def prepare_demo(workdir: str | Path) -> Demo:
    """Create (or keep writing to) the demo database in ``workdir`` and back it up.

    >>> demo = prepare_demo("opskit-demo")
    >>> demo.backup_store
    """
    folder = Path(workdir).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"workdir {folder}: cannot be used as a folder ({exc.strerror}); "
            "choose another --workdir"
        ) from exc
    database = folder / "shop.sqlite"
    if database.exists():
        simulate_writes(database)
    else:
        create_demo_database(database)

    store = folder / "backups"
    manifest = create_backup(str(database), store, freshness_query=FRESHNESS_QUERY)
    return Demo(database=database, backup_store=store, manifest=manifest)


def _write_orders(
    db: sqlite3.Connection,
    rng: random.Random,
    now: datetime,
    *,
    first_id: int,
    count: int,
    customers: int,
    span: timedelta,
) -> None:
    item_id = db.execute("select coalesce(max(id), 0) from order_items").fetchone()[0]
    orders, items = [], []
    for n in range(count):
        order_id = first_id + n
        created = now - span + span * (n + 1) / count - timedelta(seconds=2)
        updated = min(created + timedelta(minutes=rng.randint(0, 30)), now)
        lines = [
            (rng.randint(1, 60), rng.randint(1, 4)) for _ in range(rng.randint(1, 4))
        ]
        for product, quantity in lines:
            item_id += 1
            items.append((item_id, order_id, product, quantity))
        status = rng.choice(["paid", "paid", "shipped", "delivered", "refunded"])
        orders.append(
            (
                order_id,
                rng.randint(1, customers),
                status,
                rng.randint(500, 50000),
                _stamp(created),
                _stamp(updated),
            )
        )
    db.executemany("insert into orders values (?, ?, ?, ?, ?, ?)", orders)
    db.executemany("insert into order_items values (?, ?, ?, ?)", items)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def database_status(workdir: str | Path) -> str:
    """How many orders the demo shop holds and when it last wrote one; the
    demo runbook's first step (it reads, never writes)."""
    database = Path(workdir).expanduser() / "shop.sqlite"
    if not database.is_file():
        raise InputError(
            f"{database}: no demo database; run `opskit demo` or prepare_demo first"
        )
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        count, newest = db.execute(
            "select count(*), max(updated_at) from orders"
        ).fetchone()
    return f"{count} orders, newest written {newest}"


def set_maintenance(workdir: str | Path, enabled: bool) -> str:
    """Switch the demo shop's maintenance flag (a file the shop would read)."""
    flag = Path(workdir).expanduser() / "MAINTENANCE"
    if enabled:
        flag.write_text(f"maintenance since {utc_now().isoformat()}\n")
        return f"maintenance mode on ({flag})"
    flag.unlink(missing_ok=True)
    return "maintenance mode off"


def back_up(workdir: str | Path) -> str:
    """Back up the demo shop into its backup store; returns the backup id."""
    folder = Path(workdir).expanduser()
    manifest = create_backup(
        str(folder / "shop.sqlite"), folder / "backups", freshness_query=FRESHNESS_QUERY
    )
    return f"backup {manifest.backup_id} written to {folder / 'backups'}"


def demo_checks(workdir: str | Path) -> list[HealthCheck]:
    """Health checks of the demo shop: its database answers, and the shop is
    open (degraded while in maintenance mode)."""
    folder = Path(workdir).expanduser()
    return [
        SqliteCheck(name="shop-database", path=folder / "shop.sqlite"),
        CallableCheck(name="shop-open", target=partial(_shop_open, folder)),
    ]


def _shop_open(folder: Path) -> tuple[HealthStatus, str]:
    flag = folder / "MAINTENANCE"
    if flag.exists():
        return HealthStatus.DEGRADED, flag.read_text().strip()
    return HealthStatus.HEALTHY, "taking orders"


def drill_history(
    workdir: str | Path | None = None, drills: int = 4
) -> tuple[str, dict[str, str]]:
    """A record store holding a few restore drills of the demo shop, one of
    them failing its SQL check, for the RTO report to read; returns the
    store and the shop's backup store by service. Records are saved
    directly, never handed to a runner: they are the report's input."""
    from opskit.backups.drill import run_drill
    from opskit.record_store import RecordStore

    folder = Path(workdir or tempfile.mkdtemp(prefix="opskit-drill-history-"))
    store = RecordStore.open(folder / "records", create=True)
    prepared = prepare_demo(folder / "shop")
    for number in range(drills):
        failing = number == drills - 1
        result = run_drill(
            service=SERVICE,
            backup_store=str(prepared.backup_store),
            tier="standard",
            freshness_query=FRESHNESS_QUERY,
            sql_checks={
                "orders present": {
                    "sql": "select count(*) > 0 from orders",
                    "expected": 0 if failing else 1,
                }
            },
        )
        store.save(result.record)
    return str(folder / "records"), {SERVICE: str(prepared.backup_store)}

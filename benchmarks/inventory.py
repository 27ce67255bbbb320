"""Stock ledger cost: issues (each its own transaction, the part locked), on-hand from the ledger,
and the parts list with stock figures, over 2,000 parts with 100 ledger entries each.

Printed: the median and p95 of one `issue` (lock, balance checks, entry, reorder check, commit),
of `on_hand` for one part (a SUM over its entries), of one parts-list page (100 parts with on
hand, reserved, available, on order), and the throughput of 4 threads issuing the same part at
once (they serialise on the part's lock).

    python benchmarks/inventory.py                       # SQLite (temporary file)
    python benchmarks/inventory.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import describe

from ifactory.core.db import Base, Database, utcnow
from ifactory.inventory import service
from ifactory.inventory.models import SparePart, StockMovement, StorageLocation
from ifactory.models import import_all

_NOW = utcnow()


def build(db: Database, parts: int, entries: int, seed: int) -> int:
    """Parts with `entries` ledger entries each (receipts and issues); returns the entry count."""
    import_all()
    Base.metadata.create_all(db.engine)
    rng = np.random.default_rng(seed)
    audit = {"created_at": _NOW, "updated_at": _NOW, "created_by": "bench", "updated_by": "bench"}
    with db.engine.begin() as conn:
        conn.execute(
            insert(StorageLocation.__table__),  # type: ignore[arg-type]
            [{"id": 1, "code": "MS-A-01", "store": "Main", "bin": "A-01", "description": "",
              "active": True, **audit}],
        )  # fmt: skip
        conn.execute(
            insert(SparePart.__table__),  # type: ignore[arg-type]
            [
                {"id": i, "part_number": f"P-{i:06d}", "name": f"part {i}", "description": "",
                 "unit": "pc", "unit_cost": 10.0, "manufacturer": "", "manufacturer_part_number": "",
                 "min_stock": 5, "reorder_point": 10, "max_stock": 1_000_000, "lead_time_days": 5,
                 "default_location_id": 1, "active": True, "ledger_version": 0, **audit}
                for i in range(1, parts + 1)
            ],
        )  # fmt: skip
        rows = []
        for part in range(1, parts + 1):
            balance = 0.0
            for _ in range(entries):
                q = float(rng.integers(1, 20)) if balance < 50 or rng.random() < 0.5 else -1.0
                balance += q
                rows.append(
                    {"part_id": part, "location_id": 1, "movement_type": "receipt" if q > 0 else "issue",
                     "quantity": q, "balance_after": balance, "location_balance_after": balance,
                     "unit_cost": 10.0, "occurred_at": _NOW, "recorded_by": "bench", "reference": "",
                     "reason": "", "override": False}
                )  # fmt: skip
            if len(rows) >= 20_000:
                conn.execute(insert(StockMovement.__table__), rows)  # type: ignore[arg-type]
                rows = []
        if rows:
            conn.execute(insert(StockMovement.__table__), rows)  # type: ignore[arg-type]
        conn.execute(text("ANALYZE"))
    return parts * entries


def _times(fn: Callable[[int], None], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def measure(db: Database, parts: int, samples: int, seed: int) -> dict[str, list[float]]:
    """Time issues, on-hand sums and parts-list pages."""
    rng = np.random.default_rng(seed + 1)
    picks = [int(p) for p in rng.integers(1, parts + 1, size=samples)]

    def issue(i: int) -> None:
        with db.session() as s:
            service.issue(s, part_id=picks[i], quantity=1, work_order_id=i + 1, actor="bench")

    def on_hand(i: int) -> None:
        with db.session() as s:
            service.on_hand(s, part_id=picks[i])

    def page(i: int) -> None:
        with db.session() as s:
            service.get_all_parts(s, offset=(i * 100) % parts, limit=100)

    return {
        "issue": _times(issue, samples),
        "on_hand": _times(on_hand, samples),
        "parts_page_100": _times(page, max(10, samples // 5)),
    }


def contended(db: Database, threads: int, per_thread: int) -> float:
    """Issues per second when `threads` threads issue the same part at once."""
    with db.session() as s:
        service.receive(s, part_id=1, quantity=threads * per_thread, actor="bench")
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            with db.session() as s:
                service.issue(s, part_id=1, quantity=1, actor="bench")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return threads * per_thread / (time.perf_counter() - t0)


def report(name: str, results: dict[str, list[float]], rate: float) -> None:
    """Print the figures as `name: number unit` lines."""
    for key, values in results.items():
        ms = sorted(v * 1000 for v in values)
        print(f"inventory_{name}_{key}_median: {statistics.median(ms):.2f} ms")
        print(f"inventory_{name}_{key}_p95: {ms[int(0.95 * (len(ms) - 1))]:.2f} ms")
    print(f"inventory_{name}_contended_issues_4_threads: {rate:.0f} issues/s")


def run(db: Database, name: str, args: argparse.Namespace) -> None:
    """Build, measure and report on one database."""
    t0 = time.perf_counter()
    count = build(db, args.parts, args.entries, args.seed)
    print(f"inventory_{name}_ledger_entries: {count} entries")
    print(f"inventory_{name}_build: {time.perf_counter() - t0:.1f} s")
    results = measure(db, args.parts, args.samples, args.seed)
    report(name, results, contended(db, 4, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=2_000)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (a throwaway schema)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/inventory.db")
        run(db, "sqlite", args)
        db.dispose()

    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.pg else "?"
        db = Database(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        try:
            run(db, "postgres", args)
        finally:
            db.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()

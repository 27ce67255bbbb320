"""Genealogy query cost: a 5-level trace over 100,000 lots where each lot consumes 3-5 others.

The lots are in 6 tiers of equal size; each lot of tier k > 0 consumes 3-5 random lots of
tier k - 1 (an order per lot). A backward trace from a tier-5 lot and a forward trace from a
tier-0 lot both span 5 levels. Printed: the median and p95 of the recursive CTE alone and of
the full `trace` call (CTE + loading the lots + building the tree, without historian
conditions), over many random roots.

    python benchmarks/genealogy.py                       # SQLite (temporary file)
    python benchmarks/genealogy.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import describe

from ifactory.core.db import Base, Database, utcnow
from ifactory.models import import_all
from ifactory.quality import genealogy
from ifactory.quality.models import LotLink, MaterialLot

TIERS = 6
_NOW = utcnow()


def build(db: Database, lots: int, seed: int) -> tuple[int, int]:
    """Create the lot graph; returns (lots, links)."""
    import_all()
    Base.metadata.create_all(db.engine)  # the whole schema, as the models describe it
    rng = np.random.default_rng(seed)
    per_tier = -(-lots // TIERS)  # at least `lots` lots
    rows = [
        {
            "id": i + 1,
            "code": f"LOT-{i + 1:07d}",
            "material": f"m{i // per_tier}",
            "kind": "raw",
            "quantity": 1.0,
            "unit": "",
            "status": "available",
            "order_id": i + 1,
            "supplier": "",
            "created_at": _NOW,
            "updated_at": _NOW,
        }
        for i in range(per_tier * TIERS)
    ]
    links = []
    for tier in range(1, TIERS):
        for j in range(per_tier):
            out = tier * per_tier + j + 1
            k = int(rng.integers(3, 6))
            inputs = rng.choice(per_tier, size=k, replace=False) + (tier - 1) * per_tier + 1
            links += [
                {"input_lot_id": int(i), "output_lot_id": out, "order_id": out} for i in inputs
            ]
    with db.engine.begin() as conn:
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(MaterialLot.__table__), rows[i : i + 20_000])  # type: ignore[arg-type]
        for i in range(0, len(links), 20_000):
            conn.execute(insert(LotLink.__table__), links[i : i + 20_000])  # type: ignore[arg-type]
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE material_lot"))
            conn.execute(text("ANALYZE lot_link"))
        else:
            conn.execute(text("ANALYZE"))
    return len(rows), len(links)


def measure(db: Database, lots: int, roots: int, seed: int) -> dict[str, list[float]]:
    """Time the CTE and the full trace from random roots, both directions."""
    rng = np.random.default_rng(seed + 1)
    per_tier = lots // TIERS
    out: dict[str, list[float]] = {}
    for direction, tier in (("backward", TIERS - 1), ("forward", 0)):
        ids = rng.integers(0, per_tier, size=roots) + tier * per_tier + 1
        cte, full, sizes = [], [], []
        for lot_id in ids:
            with db.session() as s:
                t0 = time.perf_counter()
                genealogy.walk(s, lot_id=int(lot_id), direction=direction, max_depth=5)
                cte.append(time.perf_counter() - t0)
            with db.session() as s:
                t0 = time.perf_counter()
                result = genealogy.trace(
                    s, lot_code=f"LOT-{int(lot_id):07d}", direction=direction, max_depth=5
                )
                full.append(time.perf_counter() - t0)
            sizes.append(result.lots)
        out[f"{direction}_cte"] = cte
        out[f"{direction}_trace"] = full
        out[f"{direction}_lots"] = [float(x) for x in sizes]
    return out


def report(name: str, results: dict[str, list[float]]) -> None:
    """Print the figures as `name: number unit` lines."""
    for key, values in results.items():
        if key.endswith("_lots"):
            print(f"genealogy_{name}_{key}_median: {statistics.median(values):.0f} lots")
            continue
        ms = sorted(v * 1000 for v in values)
        print(f"genealogy_{name}_{key}_median: {statistics.median(ms):.2f} ms")
        print(f"genealogy_{name}_{key}_p95: {ms[int(0.95 * (len(ms) - 1))]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--roots", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (a throwaway schema)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/genealogy.db")
        t0 = time.perf_counter()
        lots, links = build(db, args.lots, args.seed)
        print(f"genealogy_lots: {lots} lots")
        print(f"genealogy_links: {links} links")
        print(f"genealogy_sqlite_build: {time.perf_counter() - t0:.1f} s")
        report("sqlite", measure(db, lots, args.roots, args.seed))
        db.dispose()

    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.pg else "?"
        db = Database(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        try:
            lots, _ = build(db, args.lots, args.seed)
            report("postgres", measure(db, lots, args.roots, args.seed))
        finally:
            db.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()

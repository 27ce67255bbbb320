"""The PostgreSQL historian store: day partitions, COPY ingest, a 1-minute rollup table.

Tables, in the schema given to the constructor (created on open if missing):

- `points (tag, ts, value, quality, text)`, primary key (tag, ts), range-partitioned on `ts`
  with one partition per UTC day, created when the first point of the day is written;
- `rollup_1m (tag, bucket, <the Rows columns>)`, primary key (tag, bucket): the complete
  rollup row of every (tag, minute) that has points;
- `latest (tag, ts, value, quality, text)`: the newest point of each tag.

A write is one transaction: the points the batch does not repeat are COPYed (binary) into a
temporary table, moved with one `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, and the ones
that were not inserted are joined with the stored points to tell duplicates from conflicts.
The rollup rows of the minutes that received points are then updated: a minute whose new
points all follow its stored row is merged with it, any other (a backfill into the minute)
is recomputed from the raw points, as the embedded store does at flush. Writers of one schema
take turns (an advisory lock), so two writers never merge into the same rollup row at once.
Reads run in a repeatable-read transaction and share the aggregation code of the embedded
store (`aggregates.query`), so both stores return the same numbers for the same points.
"""

from __future__ import annotations

import contextlib
import logging
import re
import struct
import threading
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from ifactory.core.errors import Unavailable
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.dedup import batch_columns, classify_repeats, repeats_in_batch
from ifactory.historian.embedded import DAY_US
from ifactory.historian.reads import ViewReads
from ifactory.historian.rollups import (
    ROW_DTYPE,
    Rows,
    compute_rows,
    merge_ordered,
)
from ifactory.historian.sorting import order_by_tag_ts
from ifactory.historian.store import (
    MINUTE_US,
    Latest,
    RawPoints,
    RetentionResult,
    WriteResult,
)
from ifactory.historian.textcodec import has_text, present

log = logging.getLogger(__name__)

# -- binary COPY ------------------------------------------------------------------------------
# PostgreSQL's binary COPY format: a header, then per row an int16 field count and per field
# an int32 length and the value in network byte order. With fixed-width non-null columns every
# row has the same size, so a batch is one numpy structured array, never a Python loop.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_WIRE = {"int4": ">i4", "int8": ">i8", "float8": ">f8", "bool": "u1"}
_NATIVE = {"int4": np.int32, "int8": np.int64, "float8": np.float64, "bool": np.bool_}

Columns = list[tuple[str, str]]

ROLLUP_COLUMNS: Columns = [
    (name, {"i4": "int4", "i8": "int8", "f8": "float8"}[ROW_DTYPE[name].str[1:]])
    for name in ROW_DTYPE.names or ()
]
POINT_COLUMNS: Columns = [("tag", "int4"), ("ts", "int8"), ("value", "float8"), ("quality", "int4")]
STAGE_COLUMNS: Columns = [
    ("idx", "int4"),
    ("tag", "int4"),
    ("ts", "int8"),
    ("bucket", "int8"),
    ("value", "float8"),
    ("quality", "int4"),
]


def _wire_dtype(columns: Columns, null_text: bool = False) -> np.dtype[Any]:
    parts: list[tuple[str, str]] = [("_fields", ">i2")]
    for name, kind in columns:
        parts += [(f"_{name}_len", ">i4"), (name, _WIRE[kind])]
    if null_text:
        parts.append(("_text_len", ">i4"))
    return np.dtype(parts)


def encode_copy(
    columns: Columns, arrays: list[npt.NDArray[Any]], *, null_text: bool = False
) -> bytes:
    """Binary COPY data of fixed-width columns (plus a trailing NULL text column if asked)."""
    dt = _wire_dtype(columns, null_text)
    rec = np.empty(len(arrays[0]), dtype=dt)
    rec["_fields"] = len(columns) + int(null_text)
    for (name, kind), arr in zip(columns, arrays, strict=True):
        rec[f"_{name}_len"] = np.dtype(_WIRE[kind]).itemsize
        rec[name] = arr
    if null_text:
        rec["_text_len"] = -1
    return _COPY_HEADER + rec.tobytes() + _COPY_TRAILER


def decode_copy(columns: Columns, data: bytes) -> list[npt.NDArray[Any]]:
    """Native arrays of binary COPY output made of fixed-width, non-null columns."""
    if not data:
        return [np.zeros(0, dtype=_NATIVE[kind]) for _, kind in columns]
    if not data.startswith(_COPY_HEADER[:11]):
        raise Unavailable("unexpected COPY output from PostgreSQL")
    (extension,) = struct.unpack_from(">i", data, 15)
    start = 19 + extension
    dt = _wire_dtype(columns)
    count = (len(data) - start - len(_COPY_TRAILER)) // dt.itemsize
    rec = np.frombuffer(data, dtype=dt, count=count, offset=start)
    out: list[npt.NDArray[Any]] = []
    for name, kind in columns:
        if (rec[f"_{name}_len"] != np.dtype(_WIRE[kind]).itemsize).any():
            raise Unavailable(f"unexpected NULL or width in column {name} of COPY output")
        out.append(rec[name].astype(_NATIVE[kind]))
    return out


# -- the store --------------------------------------------------------------------------------
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


def _libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (`postgresql+psycopg://`) as well as libpq ones."""
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


def _partition_name(lo_us: int, partition_us: int) -> str:
    """`points_YYYYMMDD` for day partitions, else `points_<index>` (`m` marks negatives)."""
    if partition_us == DAY_US:
        with contextlib.suppress(OverflowError):
            return f"points_{date(1970, 1, 1) + timedelta(days=lo_us // DAY_US):%Y%m%d}"
    return f"points_{'m' if lo_us < 0 else ''}{abs(lo_us // partition_us)}"


class PostgresStore(ViewReads):
    """A `HistorianStore` in one PostgreSQL schema; any number of processes may open it."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "historian",
        counter_max: Mapping[int, float] | None = None,
        carry_lookback_us: int = DAY_US,
        partition_us: int = DAY_US,
    ) -> None:
        if partition_us <= 0 or partition_us % MINUTE_US:
            raise ValueError("partition_us must be a positive whole number of minutes")
        self.schema = schema
        self.carry_lookback_us = carry_lookback_us
        self.partition_us = partition_us
        self._counter_max = np.full(0, np.nan)
        if counter_max:
            self.set_counter_max(counter_max)
        self._lock_name = f"ifactory.historian:{schema}"
        self._s = sql.Identifier(schema)
        self._closed = False
        # One connection writes, one reads: a long aggregate never holds up ingest.
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        with _translated():
            # Autocommit: every statement runs inside an explicit `transaction()` block,
            # so a write is committed when `write` returns, never left in an open transaction.
            self._wconn = psycopg.connect(_libpq_url(url), autocommit=True)
            try:
                self._rconn = psycopg.connect(_libpq_url(url), autocommit=True)
            except BaseException:
                self._wconn.close()
                raise
        self._rconn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._rconn.read_only = True
        try:
            with _translated():
                self._create_schema()
                with self._wconn.transaction():
                    self._partitions = self._load_partitions()
        except BaseException:
            self._wconn.close()
            self._rconn.close()
            raise

    @classmethod
    def open(cls, url: str, **options: Any) -> PostgresStore:
        """Open (or create) the store in the schema `options["schema"]` of the database `url`."""
        return cls(url, **options)

    # -- schema ---------------------------------------------------------------------------
    def _q(self, template: str, **parts: sql.Composable) -> sql.Composed:
        """`template` with `{s}` the quoted schema name and other fields from `parts`."""
        return sql.SQL(template).format(s=self._s, **parts)

    def _create_schema(self) -> None:
        rollup_cols = ", ".join(f"{name} {kind} NOT NULL" for name, kind in ROLLUP_COLUMNS)
        conn = self._wconn
        with conn.transaction():
            # Concurrent CREATE ... IF NOT EXISTS can still collide; take turns.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_name,))
            conn.execute(self._q("CREATE SCHEMA IF NOT EXISTS {s}"))
            conn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.points ("
                    " tag int4 NOT NULL, ts int8 NOT NULL, value float8 NOT NULL,"
                    " quality int4 NOT NULL, text text, PRIMARY KEY (tag, ts)"
                    ") PARTITION BY RANGE (ts)"
                )
            )
            # Rollup rows and latest values are rewritten in place as points arrive: free
            # room in each page lets PostgreSQL do that without touching the index (HOT).
            conn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.rollup_1m ("
                    + rollup_cols
                    + ", PRIMARY KEY (tag, bucket)) WITH (fillfactor = 70)"
                )
            )
            conn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.latest ("
                    " tag int4 PRIMARY KEY, ts int8 NOT NULL, value float8 NOT NULL,"
                    " quality int4 NOT NULL, text text) WITH (fillfactor = 50)"
                )
            )
        # Per-connection staging tables, emptied at every commit.
        stage_cols = ", ".join(f"{name} {kind}" for name, kind in STAGE_COLUMNS)
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS hist_stage ({stage_cols}, text text)"
            " ON COMMIT DELETE ROWS"
        )
        conn.execute(
            self._q(
                "CREATE TEMP TABLE IF NOT EXISTS hist_stage_rollup (LIKE {s}.rollup_1m)"
                " ON COMMIT DELETE ROWS"
            )
        )

    def _load_partitions(self) -> dict[int, str]:
        """Lower bound -> name of the existing partitions of `points`."""
        rows = self._wconn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            (sql.Identifier(self.schema, "points").as_string(self._wconn),),
        ).fetchall()
        out: dict[int, str] = {}
        for name, bound in rows:
            m = _BOUND.search(bound or "")
            if m:
                out[int(m.group(1))] = name
        return out

    def _ensure_partitions(self, ts: npt.NDArray[np.int64], created: dict[int, str]) -> None:
        """Create the partitions `ts` falls in that do not exist yet (in the open transaction).

        They are added to `created`, and to the store's list only once the transaction commits.
        """
        for lo in np.unique(ts // self.partition_us * self.partition_us).tolist():
            if lo in self._partitions or lo in created:
                continue
            name = _partition_name(lo, self.partition_us)
            self._wconn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.{p} PARTITION OF {s}.points"
                    " FOR VALUES FROM ({lo}) TO ({hi})",
                    p=sql.Identifier(name),
                    lo=sql.Literal(lo),
                    hi=sql.Literal(lo + self.partition_us),
                )
            )
            created[lo] = name

    # -- open / close -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the connections (every acknowledged write is already committed)."""
        with self._write_lock, self._read_lock:
            if self._closed:
                return
            self._closed = True
            self._wconn.close()
            self._rconn.close()

    def flush(self) -> None:
        """Nothing is held in memory: every write is committed before `write` returns."""
        self._check_open()

    # -- write path -------------------------------------------------------------------------
    def write(self, batch: TelemetryBatch) -> WriteResult:
        """Store a resolved batch durably; duplicates are ignored, conflicts counted."""
        n = len(batch)
        tags, ts, values, quality, text = batch_columns(batch)
        if n == 0:
            return WriteResult(0, 0, 0)
        later, first_of = repeats_in_batch(tags, ts)
        candidate = np.ones(n, dtype=np.bool_)
        candidate[later] = False
        cand = np.flatnonzero(candidate)
        with self._write_lock, _translated():
            self._check_open()
            for attempt in range(2):
                created: dict[int, str] = {}
                try:
                    with self._wconn.transaction():
                        found, stored = self._write_points(
                            tags, ts, values, quality, text, cand, created
                        )
                    self._partitions.update(created)
                    break
                except psycopg.errors.CheckViolation:
                    # No partition for a row: another process's retention dropped one we knew.
                    if attempt:
                        raise
                    with self._wconn.transaction():
                        self._partitions = self._load_partitions()
        duplicates, conflicts = classify_repeats(
            tags, ts, values, quality, text, found, stored, later, first_of
        )
        candidate[found] = False
        new = np.flatnonzero(candidate)
        return WriteResult(
            inserted=len(new),
            duplicates=duplicates,
            conflicts=len(conflicts),
            inserted_index=new.astype(np.int64),
            conflict_points=conflicts,
        )

    def _write_points(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
        cand: npt.NDArray[np.int64],
        created: dict[int, str],
    ) -> tuple[
        npt.NDArray[np.int64],
        tuple[npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.object_] | None],
    ]:
        """Insert the points at `cand`; (positions already stored, their stored columns)."""
        conn = self._wconn
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_name,))
        self._ensure_partitions(ts[cand], created)
        self._stage(tags, ts, values, quality, text, cand)
        not_inserted = conn.execute(
            self._q(
                "WITH ins AS ("
                " INSERT INTO {s}.points (tag, ts, value, quality, text)"
                " SELECT tag, ts, value, quality, text FROM hist_stage ORDER BY tag, ts"
                " ON CONFLICT DO NOTHING RETURNING tag, ts)"
                " SELECT s.idx FROM hist_stage s WHERE NOT EXISTS"
                " (SELECT 1 FROM ins WHERE ins.tag = s.tag AND ins.ts = s.ts) ORDER BY s.idx"
            )
        ).fetchall()
        found = np.array([r[0] for r in not_inserted], dtype=np.int64)
        stored = self._stored(found)
        new = np.setdiff1d(cand, found, assume_unique=True)
        if len(new):
            self._update_rollups(tags[new], ts[new], values[new], quality[new])
            conn.execute(
                self._q(
                    "INSERT INTO {s}.latest AS l (tag, ts, value, quality, text)"
                    " SELECT DISTINCT ON (tag) tag, ts, value, quality, text FROM hist_stage"
                    " ORDER BY tag, ts DESC"
                    " ON CONFLICT (tag) DO UPDATE SET ts = excluded.ts, value = excluded.value,"
                    " quality = excluded.quality, text = excluded.text WHERE l.ts < excluded.ts"
                )
            )
        return found, stored

    def _stage(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
        cand: npt.NDArray[np.int64],
    ) -> None:
        """COPY the points at `cand` into the staging table (strings, which are rare, by row)."""
        with_text = np.zeros(len(cand), dtype=np.bool_)
        if text is not None and has_text(text):
            with_text = present(text[cand])
        plain = cand[~with_text]
        cols = ", ".join(name for name, _ in STAGE_COLUMNS)
        cur = self._wconn.cursor()
        if len(plain):
            data = encode_copy(
                STAGE_COLUMNS,
                [
                    plain,
                    tags[plain],
                    ts[plain],
                    ts[plain] // MINUTE_US,
                    values[plain],
                    quality[plain].view(np.int32),
                ],
                null_text=True,
            )
            with cur.copy(f"COPY hist_stage ({cols}, text) FROM STDIN (FORMAT binary)") as cp:
                cp.write(data)
        if with_text.any():
            assert text is not None
            rows = cand[with_text]
            with cur.copy(f"COPY hist_stage ({cols}, text) FROM STDIN") as cp:
                for i, t, when, v, q, s in zip(
                    rows.tolist(),
                    tags[rows].tolist(),
                    ts[rows].tolist(),
                    values[rows].tolist(),
                    quality[rows].view(np.int32).tolist(),
                    text[rows].tolist(),
                    strict=True,
                ):
                    cp.write_row((i, t, when, when // MINUTE_US, v, q, str(s)))

    def _stored(
        self, found: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.object_] | None]:
        """Stored value, quality and text of the staged points at batch positions `found`."""
        if len(found) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.uint32), None
        rows = self._wconn.execute(
            self._q(
                "SELECT s.idx, p.value, p.quality, p.text FROM hist_stage s"
                " JOIN {s}.points p ON p.tag = s.tag AND p.ts = s.ts"
                " WHERE s.idx = ANY(%s) ORDER BY s.idx"
            ),
            (found.tolist(),),
        ).fetchall()
        if len(rows) != len(found):
            raise Unavailable("stored points changed during a historian write; retry it")
        sv = np.array([r[1] for r in rows], dtype=np.float64)
        sq = np.array([r[2] for r in rows], dtype=np.int64).astype(np.uint32)
        texts = [r[3] for r in rows]
        stext = np.array(texts, dtype=object) if any(t is not None for t in texts) else None
        return sv, sq, stext

    def _update_rollups(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
    ) -> None:
        """Bring the 1-minute rows of the minutes that received the new points up to date."""
        order = order_by_tag_ts(tags, ts)
        tags, ts, values, quality = tags[order], ts[order], values[order], quality[order]
        cm = self._counter_max
        fresh = compute_rows(tags, ts, values, quality, ts // MINUTE_US, cm)
        old = self._copy_rows(
            "SELECT {cols} FROM {s}.rollup_1m r JOIN (SELECT DISTINCT tag, bucket FROM"
            " hist_stage) k USING (tag, bucket) ORDER BY r.tag, r.bucket",
            prefix="r.",
        )
        if len(old):
            base = int(min(old.bucket.min(), fresh.bucket.min()))
            _, oi, fi = np.intersect1d(
                _row_keys(old, base),
                _row_keys(fresh, base),
                assume_unique=True,
                return_indices=True,
            )
        else:
            oi = fi = np.zeros(0, dtype=np.int64)
        parts = [fresh.take(np.setdiff1d(np.arange(len(fresh)), fi, assume_unique=True))]
        if len(fi):
            a, b = old.take(oi), fresh.take(fi)
            # New points after the stored row continue it; anything else is a backfill into
            # the minute, whose row is recomputed from all of its raw points.
            after = b.first_ts > a.last_ts
            parts.append(merge_ordered(a.take(after), b.take(after), cm))
            again = b.take(~after)
            if len(again):
                parts.append(self._recompute(again.tag, again.bucket))
        rows = Rows.concat(parts)
        rows = rows.take(np.lexsort((rows.bucket, rows.tag)))
        names = [name for name, _ in ROLLUP_COLUMNS]
        cur = self._wconn.cursor()
        with cur.copy(
            f"COPY hist_stage_rollup ({', '.join(names)}) FROM STDIN (FORMAT binary)"
        ) as cp:
            cp.write(encode_copy(ROLLUP_COLUMNS, rows.columns()))
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[2:])
        cur.execute(
            self._q(
                "INSERT INTO {s}.rollup_1m SELECT * FROM hist_stage_rollup"
                f" ON CONFLICT (tag, bucket) DO UPDATE SET {updates}"
            )
        )

    def _recompute(self, tags: npt.NDArray[np.int32], buckets: npt.NDArray[np.int64]) -> Rows:
        """Rows of (tag, minute) pairs computed from all their stored points."""
        points = _copy_points(
            self._wconn.cursor(),
            self._q(
                "SELECT p.tag, p.ts, p.value, p.quality FROM {s}.points p"
                " JOIN unnest({tags}::int4[], {buckets}::int8[]) AS k(tag, bucket)"
                " ON p.tag = k.tag AND p.ts >= k.bucket * {m} AND p.ts < (k.bucket + 1) * {m}"
                " ORDER BY p.tag, p.ts",
                tags=sql.Literal(tags.tolist()),
                buckets=sql.Literal(buckets.tolist()),
                m=sql.Literal(MINUTE_US),
            ),
        )
        return compute_rows(
            points.tags,
            points.ts,
            points.values,
            points.quality,
            points.ts // MINUTE_US,
            self._counter_max,
        )

    def _copy_rows(self, query: str, *, prefix: str = "", **params: Any) -> Rows:
        """Rollup rows returned by `query` (with `{cols}` and `{s}`) on the write connection."""
        return _read_rows(self._wconn.cursor(), self._s, query, prefix, params)

    # -- reads ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _read_view(self) -> Iterator[_View]:
        """A consistent read view: one repeatable-read transaction on the read connection."""
        with self._read_lock, _translated():
            self._check_open()
            with self._rconn.transaction():
                yield _View(self._rconn.cursor(), self._s)

    def raw(
        self,
        tag_ids: npt.ArrayLike,
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> RawPoints:
        """Stored points of `tag_ids` with start_us <= ts < end_us, sorted by (tag, ts)."""
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        with self._read_view() as view:
            return view.points(ids, start_us, end_us, limit)

    def latest(self, tag_ids: npt.ArrayLike | None = None) -> Latest:
        """The most recent point per tag (all tags with data when `tag_ids` is None)."""
        query = self._q("SELECT tag, ts, value, quality, text FROM {s}.latest")
        params: tuple[Any, ...] = ()
        if tag_ids is not None:
            ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
            query += sql.SQL(" WHERE tag = ANY(%s::int4[])")
            params = (ids.tolist(),)
        with self._read_view() as view:
            rows = view.cur.execute(query + sql.SQL(" ORDER BY tag"), params).fetchall()
        texts = [r[4] for r in rows]
        return Latest(
            np.array([r[0] for r in rows], dtype=np.int32),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.float64),
            np.array([r[3] for r in rows], dtype=np.int32).view(np.uint32),
            np.array(texts, dtype=object) if any(t is not None for t in texts) else None,
        )

    # -- retention --------------------------------------------------------------------------
    def retention(self, older_than_us: int) -> RetentionResult:
        """Drop the partitions that lie entirely before `older_than_us`, and their rollups."""
        with self._write_lock, _translated():
            self._check_open()
            conn = self._wconn
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_name,))
                partitions = self._load_partitions()
                # A partition is dropped when its upper bound is at or before the cut-off, so
                # every point before `cut` goes and every point from `cut` on stays.
                cut = older_than_us // self.partition_us * self.partition_us
                dropped = sorted(lo for lo in partitions if lo < cut)
                points = 0
                for lo in dropped:
                    name = sql.Identifier(partitions.pop(lo))
                    row = conn.execute(
                        sql.SQL("SELECT count(*) FROM {s}.{p}").format(s=self._s, p=name)
                    ).fetchone()
                    points += int(row[0]) if row is not None else 0
                    conn.execute(sql.SQL("DROP TABLE {s}.{p}").format(s=self._s, p=name))
                segments = conn.execute(
                    self._q("DELETE FROM {s}.rollup_1m WHERE bucket < %s"),
                    (cut // MINUTE_US,),
                ).rowcount
            self._partitions = partitions
        log.info(
            "historian %s retention before %d: dropped %d partitions (%d points), %d rollup rows",
            self.schema,
            older_than_us,
            len(dropped),
            points,
            segments,
        )
        return RetentionResult(len(dropped), points, segments)

    def stats(self) -> dict[str, int]:
        """Counts for metrics and the health check: partitions, estimated points, bytes.

        Points are the planner's estimate (`pg_class.reltuples`, kept by autovacuum/ANALYZE),
        not a count: counting a billion rows for a scrape would cost more than the ingest.
        """
        with self._read_lock, _translated():
            self._check_open()
            with self._rconn.transaction():
                row = self._rconn.execute(
                    """
                    SELECT count(*), coalesce(sum(greatest(c.reltuples, 0)), 0),
                           coalesce(sum(pg_total_relation_size(c.oid)), 0)
                    FROM pg_inherits i
                    JOIN pg_class c ON c.oid = i.inhrelid
                    JOIN pg_class p ON p.oid = i.inhparent
                    JOIN pg_namespace n ON n.oid = p.relnamespace
                    WHERE n.nspname = %s AND p.relname = 'points'
                    """,
                    (self.schema,),
                ).fetchone()
                rollup = self._rconn.execute(
                    "SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)",
                    (f"{self._qualified('rollup_1m')}",),
                ).fetchone()
        partitions, points, size = row if row is not None else (0, 0, 0)
        return {
            "partitions": int(partitions),
            "disk_points": int(points),
            "bytes": int(size) + int(rollup[0] if rollup is not None else 0),
        }

    def _qualified(self, table: str) -> str:
        """`"schema"."table"`, quoted for to_regclass."""
        quote = '"'
        return f"{quote}{self.schema.replace(quote, quote * 2)}{quote}.{table}"


class _View:
    """Raw points and 1-minute rows read in one transaction (an `aggregates.PointSource`)."""

    def __init__(self, cur: psycopg.Cursor[Any], schema: sql.Identifier) -> None:
        self.cur = cur
        self._s = schema

    def points(
        self,
        tag_ids: npt.NDArray[np.int32],
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> RawPoints:
        """Stored points of sorted unique `tag_ids` in [start_us, end_us), sorted by (tag, ts)."""
        if len(tag_ids) == 0 or end_us <= start_us:
            return RawPoints.empty()
        where = sql.SQL(
            " FROM {s}.points WHERE tag = ANY({ids}::int4[]) AND ts >= {lo} AND ts < {hi}"
        ).format(
            s=self._s,
            ids=sql.Literal(tag_ids.tolist()),
            lo=sql.Literal(start_us),
            hi=sql.Literal(end_us),
        )
        tail = sql.SQL(" ORDER BY tag, ts") + (
            sql.SQL(" LIMIT {}").format(sql.Literal(limit)) if limit is not None else sql.SQL("")
        )
        query = sql.SQL("SELECT tag, ts, value, quality, text IS NOT NULL") + where + tail
        columns = [*POINT_COLUMNS, ("has_text", "bool")]
        tags, ts, values, quality, with_text = _copy_out(self.cur, query, columns)
        text = None
        if with_text.any():
            # The strings of the selected points, in the same order (and the same snapshot).
            query = sql.SQL("SELECT text") + where + sql.SQL(" AND text IS NOT NULL") + tail
            found = [r[0] for r in self.cur.execute(query).fetchall()]
            text = np.full(len(ts), None, dtype=object)
            text[with_text] = found[: int(with_text.sum())]
        return RawPoints(tags, ts, values, quality.view(np.uint32), text)

    def minute_rows(self, tag_ids: npt.NDArray[np.int32], b_lo: int, b_hi: int) -> Rows:
        """Complete 1-minute rows of sorted unique `tag_ids` for buckets b_lo..b_hi (inclusive)."""
        if len(tag_ids) == 0 or b_hi < b_lo:
            return Rows.empty()
        return _read_rows(
            self.cur,
            self._s,
            "SELECT {cols} FROM {s}.rollup_1m WHERE tag = ANY({ids}::int4[])"
            " AND bucket BETWEEN {lo} AND {hi} ORDER BY tag, bucket",
            "",
            {"ids": tag_ids.tolist(), "lo": b_lo, "hi": b_hi},
        )


def _copy_out(
    cur: psycopg.Cursor[Any], query: sql.Composable, columns: Columns
) -> list[npt.NDArray[Any]]:
    """Run `query` as a binary COPY and decode its fixed-width columns."""
    copy_query = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)
    with cur.copy(copy_query) as cp:
        data = b"".join(cp)
    return decode_copy(columns, data)


def _copy_points(cur: psycopg.Cursor[Any], query: sql.Composable) -> RawPoints:
    """Points (tag, ts, value, quality) returned by `query`, in its order."""
    tags, ts, values, quality = _copy_out(cur, query, POINT_COLUMNS)
    return RawPoints(tags, ts, values, quality.view(np.uint32))


def _read_rows(
    cur: psycopg.Cursor[Any],
    schema: sql.Identifier,
    template: str,
    prefix: str,
    params: Mapping[str, Any],
) -> Rows:
    """Rollup rows of `template` (`{cols}`, `{s}` and literal `params` filled in)."""
    cols = sql.SQL(", ").join(sql.SQL(prefix + name) for name, _ in ROLLUP_COLUMNS)
    literals = {k: sql.Literal(v) for k, v in params.items()}
    query = sql.SQL(template).format(cols=cols, s=schema, **literals)
    return Rows(*_copy_out(cur, query, ROLLUP_COLUMNS))


def _row_keys(rows: Rows, base: int) -> npt.NDArray[np.int64]:
    """Unique sortable int64 key of (tag, bucket): tag ids are below 2**24 (see MAX_TAG_ID)."""
    return (rows.tag.astype(np.int64) << np.int64(39)) + (rows.bucket - np.int64(base))


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Connection failures become `Unavailable` (the pipeline retries; nothing was acked)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise Unavailable(f"the historian database is unavailable: {exc}") from exc

"""The forwarder: sends spooled batches to the platform in a live lane and a backfill lane.

The spool's unacknowledged records are split by one moving boundary, `live_next`:

- the **live lane** sends records from `live_next` on: when more has piled up than one live
  request holds (`live_max_points`), or records older than `live_window_s` before the newest
  (after an outage, or while the platform is slow), it jumps `live_next` forward to the newest
  records, so what the page shows stays current;
- the **backfill lane** replays everything below `live_next`, oldest first, in order, with the
  original timestamps, rate-limited to `backfill_rate` points/s, marked as backfill so the
  platform lets live batches go first. While live data is waiting and the live lane has not
  yet got a request through (after an outage), the backfill lane holds back, so the first
  request to reach the platform is the live one.

The boundary only moves forward, so the lanes never send the same record, except that a
request whose answer was lost is sent again — harmless, since the platform's writes are
idempotent on (tag, timestamp). A record is acknowledged in the spool (and so deleted) only
after the platform answered 202, i.e. stored it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ifactory.edge.client import BatchClient, Receipt, SendError, TooLarge
from ifactory.edge.spool import Spool
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

LIVE = "live"
BACKFILL = "backfill"


@dataclass(frozen=True, slots=True)
class ForwarderStats:
    """Cumulative counters of the forwarder (for metrics)."""

    sent_points: dict[str, int] = field(default_factory=lambda: {LIVE: 0, BACKFILL: 0})
    sent_batches: dict[str, int] = field(default_factory=lambda: {LIVE: 0, BACKFILL: 0})
    duplicates: int = 0
    rejected_points: int = 0
    quarantined_records: int = 0
    errors: int = 0
    connected: bool = False
    last_live_received_us: int | None = None


class _Backoff:
    """Exponential backoff with full jitter, reset on success."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class Forwarder:
    """Drains a spool to the platform through two lanes (see the module docstring)."""

    def __init__(
        self,
        spool: Spool,
        client_factory: Callable[[], BatchClient],
        *,
        live_max_points: int = 50_000,
        live_window_s: float = 5.0,
        backfill_max_points: int = 50_000,
        backfill_rate: float = 200_000.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        quarantine_dir: Path | None = None,
    ) -> None:
        self.spool = spool
        self.client_factory = client_factory
        self.live_max_points = live_max_points
        self.live_window_s = live_window_s
        self.backfill_max_points = backfill_max_points
        self.backfill_rate = backfill_rate
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.quarantine_dir = quarantine_dir or spool.path / "rejected"
        self._lock = threading.Lock()
        self._live_next = spool.next_seq  # whatever is on disk already is backlog
        self._stop = threading.Event()
        self._live_ok = threading.Event()  # the live lane's last request was stored
        self._stats = ForwarderStats()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the live and backfill threads."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(LIVE,), name="edge-live", daemon=True),
            threading.Thread(target=self._run, args=(BACKFILL,), name="edge-backfill", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both lanes after the request in flight."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)

    def stats(self) -> ForwarderStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return replace(s, sent_points=dict(s.sent_points), sent_batches=dict(s.sent_batches))

    @property
    def live_next(self) -> int:
        """The boundary between the backfill lane (below) and the live lane."""
        with self._lock:
            return self._live_next

    # --- the lanes -----------------------------------------------------------------------

    def _run(self, lane: str) -> None:
        client = self.client_factory()
        backoff = _Backoff(self.backoff_initial_s, self.backoff_max_s)
        bucket = _TokenBucket(self.backfill_rate) if lane == BACKFILL else None
        replaying = False
        try:
            while not self._stop.is_set():
                if lane == BACKFILL and self._live_first():
                    self._stop.wait(0.05)
                    continue
                seqs = self._pick(lane)
                if lane == BACKFILL and bool(seqs) != replaying:
                    replaying = bool(seqs)
                    if replaying:
                        st = self.spool.stats()
                        log.info(
                            "backfill: replaying the backlog in order (%d points spooled)",
                            st.points,
                        )
                    else:
                        log.info("backfill: the backlog is drained")
                if not seqs:
                    if lane == LIVE:
                        self.spool.wait_for_append(self.spool.next_seq - 1, 0.5)
                    else:
                        self._stop.wait(0.2)
                    continue
                points = self.spool.points(seqs)
                if bucket is not None:
                    bucket.take(points, self._stop)
                    if self._stop.is_set():
                        break
                try:
                    self._send(client, lane, seqs)
                except SendError as exc:
                    self._count_error()
                    if lane == LIVE:
                        self._live_ok.clear()
                    delay = backoff.next_delay()
                    # The first failure of an episode is a warning; the retries are debug
                    # lines, so a long outage does not flood the log.
                    log.log(
                        logging.WARNING if backoff.attempt == 1 else logging.DEBUG,
                        "%s lane: %d batches not delivered (%s); retrying with backoff "
                        "(next in %.1f s); the spool keeps them",
                        lane,
                        len(seqs),
                        exc,
                        delay,
                    )
                    self._stop.wait(delay)
                    continue
                if lane == LIVE:
                    self._live_ok.set()
                if backoff.attempt:
                    log.info(
                        "%s lane: the platform stores again after %d failed attempts",
                        lane,
                        backoff.attempt,
                    )
                backoff.reset()
        except Exception:
            log.exception("%s lane stopped by an unexpected error", lane)
            raise
        finally:
            client.close()

    def _live_first(self) -> bool:
        """Whether the backfill lane must wait: live data is waiting and not yet going through.

        After an outage the live lane gets the first request through, so the page is current
        before the replay starts; without live data (e.g. `--drain`) the backlog goes at once.
        """
        if self._live_ok.is_set():
            return False
        with self._lock:
            start = self._live_next
        return bool(self.spool.newest(at_least=start, max_points=1))

    def _pick(self, lane: str) -> list[int]:
        if lane == LIVE:
            with self._lock:
                start = self._live_next
            seqs = self.spool.newest(
                at_least=start,
                max_points=self.live_max_points,
                window_us=int(self.live_window_s * 1_000_000),
            )
            if seqs and seqs[0] > start:
                with self._lock:
                    # Too much piled up for one live request: the older part becomes backlog.
                    self._live_next = max(self._live_next, seqs[0])
            return seqs
        with self._lock:
            below = self._live_next
        seqs = self.spool.pending(below=below, limit=1000)
        out: list[int] = []
        total = 0
        for s in seqs:
            pts = self.spool.points([s])
            if out and total + pts > self.backfill_max_points:
                break
            out.append(s)
            total += pts
        return out

    def _send(self, client: BatchClient, lane: str, seqs: list[int]) -> None:
        batches = []
        for seq in seqs:
            try:
                batches.append(self.spool.read(seq))
            except KeyError:
                continue  # acknowledged meanwhile by the other lane
        if not batches:
            return
        for part in _groups(batches):
            self._deliver(client, lane, part, seqs)
        self.spool.ack(seqs)
        with self._lock:
            s = self._stats
            pts = sum(len(b) for b in batches)
            self._stats = replace(
                s,
                sent_points={**s.sent_points, lane: s.sent_points[lane] + pts},
                sent_batches={**s.sent_batches, lane: s.sent_batches[lane] + len(seqs)},
                connected=True,
                last_live_received_us=max(b.received_us for b in batches)
                if lane == LIVE
                else s.last_live_received_us,
            )
            if lane == LIVE:
                self._live_next = max(self._live_next, seqs[-1] + 1)

    def _deliver(
        self, client: BatchClient, lane: str, batch: TelemetryBatch, seqs: list[int]
    ) -> None:
        try:
            receipt = client.send(batch, lane=lane)
        except TooLarge:
            if len(batch) < 2:
                raise
            half = len(batch) // 2
            self._deliver(client, lane, batch.take(np.arange(half)), seqs)
            self._deliver(client, lane, batch.take(np.arange(half, len(batch))), seqs)
            return
        except SendError as exc:
            if exc.retry:
                raise
            self._quarantine(batch, seqs, str(exc))
            return
        self._count_receipt(receipt)

    def _quarantine(self, batch: TelemetryBatch, seqs: list[int], reason: str) -> None:
        # The platform refuses this payload for good (not a transient error): keep it on disk
        # with the reason, so nothing disappears silently, and move on.
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stem = self.quarantine_dir / f"batch-{seqs[0]:016d}-{len(batch)}"
        stem.with_suffix(".batch").write_bytes(codec.encode(batch))
        stem.with_suffix(".reason.txt").write_text(reason + "\n")
        log.error(
            "the platform rejected %d points for good (%s); kept in %s", len(batch), reason, stem
        )
        with self._lock:
            self._stats = replace(
                self._stats, quarantined_records=self._stats.quarantined_records + len(seqs)
            )

    def _count_receipt(self, r: Receipt) -> None:
        with self._lock:
            self._stats = replace(
                self._stats,
                duplicates=self._stats.duplicates + r.duplicates,
                rejected_points=self._stats.rejected_points + sum(r.rejected.values()),
            )

    def _count_error(self) -> None:
        with self._lock:
            self._stats = replace(self._stats, errors=self._stats.errors + 1, connected=False)


def _groups(batches: list[TelemetryBatch]) -> list[TelemetryBatch]:
    """Concatenate consecutive batches of the same tag kind (ids or keys) into one each."""
    out: list[TelemetryBatch] = []
    run: list[TelemetryBatch] = []
    for b in batches:
        if run and run[-1].resolved != b.resolved:
            out.append(TelemetryBatch.concat(run))
            run = []
        run.append(b)
    if run:
        out.append(TelemetryBatch.concat(run) if len(run) > 1 else run[0])
    return out


class _TokenBucket:
    """At most `rate` points per second on average, bursts up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def take(self, n: int, stop: threading.Event) -> None:
        if self.rate <= 0:
            return
        while not stop.is_set():
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= min(n, self.rate):
                self.tokens -= n
                return
            stop.wait((min(n, self.rate) - self.tokens) / self.rate)

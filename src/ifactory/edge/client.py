"""The platform's ingest endpoint as the edge sees it: one keep-alive HTTP connection per lane."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

INGEST_PATH = "/api/ingest"
LANE_HEADER = "X-Ifactory-Lane"


class SendError(Exception):
    """The platform did not confirm the batch; `retry` says whether sending again can help."""

    def __init__(self, msg: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(msg)
        self.retry = retry
        self.status = status


class TooLarge(SendError):
    """The platform refused the body as too large (413): send it in smaller parts."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The platform's 202 answer: the batch is durably stored (or dead-lettered)."""

    accepted: int
    duplicates: int
    conflicts: int
    rejected: dict[str, int]


class BatchClient(Protocol):
    """What the forwarder sends through: HTTP (`PlatformClient`) or NATS JetStream."""

    def send(self, batch: TelemetryBatch, *, lane: str) -> Receipt:
        """Deliver one batch durably, or raise `SendError`."""
        ...

    def close(self) -> None:
        """Drop the connection (a new one is opened on the next send)."""
        ...


class PlatformClient:
    """POSTs batches in the binary batch format to `<platform>/api/ingest` with a device token."""

    def __init__(self, platform_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(platform_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"the platform URL must be http(s)://host[:port], not {platform_url!r}"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path.rstrip("/") + INGEST_PATH
        self.token = token
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host,
                    self.port,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout_s
                )
        return self._conn

    def close(self) -> None:
        """Drop the connection (a new one is opened on the next send)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, batch: TelemetryBatch, *, lane: str) -> Receipt:
        """Send one batch and wait for the platform's durable acknowledgement."""
        body = codec.encode(batch)
        headers = {
            "Content-Type": codec.CONTENT_TYPE,
            "Authorization": f"Bearer {self.token}",
            LANE_HEADER: lane,
        }
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            # Unknown outcome (maybe stored, maybe not): resending is safe, writes are idempotent.
            self.close()
            raise SendError(f"{type(exc).__name__}: {exc}", retry=True) from exc
        if resp.status == 202:
            doc = json.loads(data)
            return Receipt(
                accepted=int(doc.get("accepted", 0)),
                duplicates=int(doc.get("duplicates", 0)),
                conflicts=int(doc.get("conflicts", 0)),
                rejected={str(k): int(v) for k, v in (doc.get("rejected") or {}).items()},
            )
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        msg = _error_message(data)
        if resp.status == 413:
            raise TooLarge(f"413: {msg}", retry=True, status=413)
        # 401/403 are configuration errors an operator fixes (token, role): keep the data and retry.
        retry = resp.status in (401, 403, 404, 408, 429) or resp.status >= 500
        raise SendError(f"{resp.status}: {msg}", retry=retry, status=resp.status)


def _error_message(data: bytes) -> str:
    try:
        detail = json.loads(data)["detail"]
        return "; ".join(str(d.get("msg", d)) for d in detail)
    except (ValueError, KeyError, TypeError, AttributeError):
        return data[:200].decode("utf-8", "replace")

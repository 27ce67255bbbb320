"""Real processes for the edge fault tests: the platform, the edge, and a TCP proxy we can cut."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from ifactory.auth import service as auth_service
from ifactory.auth.roles import Role
from ifactory.core import audit
from ifactory.core.settings import Settings
from ifactory.plant.loader import load_plant
from ifactory.platform import Platform

EXAMPLE_PLANT = Path(__file__).resolve().parents[2] / "src/ifactory/plant/examples/plant.yaml"
S = 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IFACTORY_")}
    env["IFACTORY_ENVIRONMENT"] = "test"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def seed_platform(data_dir: Path) -> str:
    """Create the platform's database and historian, and a device key; returns the key."""
    platform = Platform.open(Settings(environment="test", data_dir=data_dir), plant=load_plant())
    try:
        with platform.db.session() as session:
            user = auth_service.create(
                session, username="edge1", roles=(Role.device,), actor=audit.SYSTEM
            )
            _, secret = auth_service.create_token(
                session, user=user, name="edge1", actor=audit.SYSTEM
            )
    finally:
        platform.stop()
    return secret


@dataclass
class Proc:
    """A child process with its log file."""

    popen: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait (a graceful stop)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def tail(self) -> str:
        return self.log.read_text()[-3000:]


def _spawn(args: list[str], log: Path) -> Proc:
    f = open(log, "ab")  # noqa: SIM115 (the child writes to it)
    popen = subprocess.Popen(
        [sys.executable, "-m", "ifactory.cli", *args],
        stdout=f,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    f.close()
    return Proc(popen, log)


def start_platform(data_dir: Path, port: int, log: Path) -> Proc:
    """`ifactory serve` on the data directory; returns when /health answers."""
    proc = _spawn(
        ["serve", "--plant", str(EXAMPLE_PLANT), "--data-dir", str(data_dir), "--port", str(port)],
        log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"the platform exited:\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the platform did not start:\n{proc.tail()}")


def start_edge(
    url: str, token: str, spool: Path, log: Path, *extra: str, simulate: bool = True
) -> Proc:
    """`ifactory edge` with the simulated plant, 10× real time from 10 minutes ago."""
    args = ["edge", "--platform", url, "--token", token, "--spool", str(spool)]
    args += ["--backoff-max-s", "1"]
    if simulate:
        args += ["--simulate", "--speed", "10", "--backdate-s", "600"]
    return _spawn([*args, *extra], log)


def drain(url: str, token: str, spool: Path, log: Path, timeout: float = 60) -> None:
    """Forward what is left in the spool and wait until it is empty."""
    proc = start_edge(url, token, spool, log, "--drain", simulate=False)
    try:
        rc = proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert rc == 0, proc.tail()


def last_spooled_ts(spool: Path) -> int:
    """The simulator's cursor: the newest timestamp the edge ever stored in its spool."""
    return int(json.loads((spool / "cursors.json").read_text())["sim"])


def stored_points(data_dir: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(tag ids, timestamps) of every stored point, and the number of simulated tags."""
    platform = Platform.open(Settings(environment="test", data_dir=data_dir))
    try:
        ids = np.array(sorted(platform.registry.tags), dtype=np.int32)
        raw = platform.store.raw(ids, 0, 2**62)
        return raw.tags.copy(), raw.ts.copy(), len(ids)
    finally:
        platform.stop()


def assert_nothing_lost_or_duplicated(data_dir: Path, spool: Path) -> int:
    """Every tag has exactly one point per simulated second, from the first to the last spooled."""
    tags, ts, n_tags = stored_points(data_dir)
    last = last_spooled_ts(spool)
    assert len(ts), "nothing was stored"
    first = int(ts.min())
    steps = (last - first) // S + 1
    pairs = tags.astype(np.int64) * (1 << 40) + (ts // S)
    assert len(np.unique(pairs)) == len(pairs), "a (tag, timestamp) is stored twice"
    per_tag = np.bincount(tags)[np.unique(tags)]
    missing = n_tags * steps - len(ts)
    assert int(ts.max()) == last, f"the newest stored point is {int(ts.max())}, spooled {last}"
    assert len(np.unique(tags)) == n_tags, "a tag has no points at all"
    assert (per_tag == steps).all() and missing == 0, (
        f"{missing} points lost: {steps} seconds x {n_tags} tags expected, {len(ts)} stored"
    )
    return len(ts)


class CuttableProxy:
    """A TCP proxy between the edge and the platform; `cut()` breaks it like a network outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # network down: the connection goes nowhere
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        """The network is back."""
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()

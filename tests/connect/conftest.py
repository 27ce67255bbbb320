"""A private Mosquitto per test, started with the lossless settings of docs/connect-mqtt.md."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

LOSSLESS_CONF = """\
listener {port} 127.0.0.1
persistence true
persistence_location {data}/
autosave_interval 1
autosave_on_changes false
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
queue_qos0_messages false
persistent_client_expiration 1d
log_dest file {data}/mosquitto.log
user {user}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A Mosquitto process that a test can stop and start again (keeping its persistence)."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        self.directory = directory
        self.port = _free_port()
        self.conf = directory / "mosquitto.conf"
        # Started as root, Mosquitto would switch to user "mosquitto", who cannot write here.
        self.conf.write_text(
            LOSSLESS_CONF.format(port=self.port, data=directory, user=getpass.getuser())
            + extra.format(data=directory)
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: see {self.directory}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM): Mosquitto writes its persistence file on the way out."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto on a free port, with persistence in the test's directory."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    b = Broker(directory, extra="allow_anonymous true\n")
    b.start()
    yield b
    b.stop()

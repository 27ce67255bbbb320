"""UNS JSON over MQTT through a real Mosquitto into the real pipeline and historian."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ifactory.connect.base import ConnectorAuthFailed
from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.mqtt.connector import UnsConnector
from ifactory.connect.mqtt.uns import Columns, UndecodablePayload, UnsMapping
from ifactory.connect.mqtt_install import attach_uns
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import BAD, TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

from .conftest import Broker

T0 = 1_795_000_000_000_000
MACHINE = "acme/springfield/machining/machining_line/cnc1"


@pytest.fixture
def platform(tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    settings = Settings(environment="test", data_dir=tmp_path / "data")
    p = Platform.open(settings, clock=ManualClock(T0 + 60_000_000), plant=example_plant)
    yield p
    p.stop()


def publisher(broker: Broker) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def publish_all(c: paho.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [c.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=30)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def tag_id(platform: Platform, key: str) -> int:
    return platform.registry.tags_by_key[key].id


def stored(platform: Platform, key: str) -> int:
    return len(platform.store.raw([tag_id(platform, key)], 0, 2**62))


def test_payload_shapes_decode_to_points() -> None:
    mapping = UnsMapping.from_tags(
        [
            (f"{MACHINE}/spindle_speed", {}),
            (
                f"{MACHINE}/bearing_temp",
                {"mqtt": {"topic": "legacy/cnc1", "field": "temps.bearing"}},
            ),
        ],
        prefix="uns",
    )
    out = Columns()
    assert mapping.decode(f"uns/{MACHINE}/spindle_speed", b"1200.5", 7, out) == 1
    assert (
        mapping.decode(
            f"uns/{MACHINE}/spindle_speed",
            b'{"ts": 1795000000000, "value": 1300, "quality": "bad"}',
            7,
            out,
        )
        == 1
    )
    assert (
        mapping.decode(
            f"uns/{MACHINE}",
            b'[{"tag": "spindle_speed", "ts": "2026-11-18T11:06:41Z", "value": 1}, {"tag": "product", "value": "P-100"}]',
            7,
            out,
        )
        == 2
    )
    assert mapping.decode("legacy/cnc1", b'{"temps": {"bearing": 41.5}}', 7, out) == 1
    assert out.tags == [
        f"{MACHINE}/spindle_speed",
        f"{MACHINE}/spindle_speed",
        f"{MACHINE}/spindle_speed",
        f"{MACHINE}/product",
        f"{MACHINE}/bearing_temp",
    ]
    assert out.ts == [7, 1_795_000_000_000_000, 1_795_000_001_000_000, 7, 7]
    assert out.quality[1] == BAD
    assert out.text[3] == "P-100"
    with pytest.raises(UndecodablePayload, match="not in the payload"):
        mapping.decode("legacy/cnc1", b'{"temps": {}}', 7, out)
    with pytest.raises(UndecodablePayload, match="not JSON"):
        mapping.decode(f"uns/{MACHINE}/spindle_speed", b"\xff{", 7, out)
    # A message that fails half-way leaves nothing behind.
    with pytest.raises(UndecodablePayload, match="no 'value'"):
        mapping.decode(
            f"uns/{MACHINE}", b'[{"tag": "spindle_speed", "value": 1}, {"tag": "x"}]', 7, out
        )
    assert len(out) == 5


def test_points_stored_unmapped_and_undecodable_dead_lettered(
    broker: Broker, platform: Platform
) -> None:
    connector = attach_uns(platform, broker.url, client_id="uns-1")
    platform.start()
    connector.wait_connected()
    pub = publisher(broker)
    publish_all(
        pub,
        [
            (f"{MACHINE}/spindle_speed", orjson.dumps({"ts": T0 // 1000, "value": 1500})),
            (
                MACHINE,
                orjson.dumps(
                    [
                        {"tag": "bearing_temp", "ts": T0 // 1000 + i, "value": 40 + i}
                        for i in range(100)
                    ]
                ),
            ),
            (f"{MACHINE}/no_such_tag", b'{"ts": 1795000000000, "value": 1}'),
            (f"{MACHINE}/spindle_speed", b"not json"),
        ],
    )
    wait_for(lambda: platform.dead_letters.counts().get("undecodable", 0) == 1)
    wait_for(lambda: stored(platform, f"{MACHINE}/bearing_temp") == 100)
    assert stored(platform, f"{MACHINE}/spindle_speed") == 1
    wait_for(lambda: platform.dead_letters.counts().get("unknown_tag", 0) == 1)
    unknown = platform.dead_letters.query(reason="unknown_tag")[0]
    assert unknown.tag == f"{MACHINE}/no_such_tag"
    bad = platform.dead_letters.query(reason="undecodable")[0]
    assert bad.tag == f"{MACHINE}/spindle_speed"
    assert bad.value == "not json" and "not JSON" in bad.detail
    pub.disconnect()


@pytest.mark.parametrize("mqtt5", [False, True], ids=["mqtt311", "mqtt5"])
def test_messages_published_while_platform_down_arrive_after_restart(
    broker: Broker, platform: Platform, mqtt5: bool
) -> None:
    key = f"{MACHINE}/vibration_rms"
    sink_calls: list[int] = []

    def sink(batch: TelemetryBatch) -> object:
        sink_calls.append(len(batch))
        return platform.pipeline.ingest(batch)

    def connector() -> UnsConnector:
        c = UnsConnector(
            MqttOptions.from_url(broker.url, client_id="uns-restart", mqtt5=mqtt5),
            UnsMapping.from_tags([(key, {})]),
            sink,
        )
        c.start()
        c.wait_connected()
        return c

    first = connector()
    first.stop()  # the platform goes down; its session stays with the broker
    pub = publisher(broker)
    publish_all(
        pub,
        [(key, orjson.dumps({"ts": T0 // 1000 + i, "value": i % 7})) for i in range(2000)],
    )
    pub.disconnect()
    # The broker restarts too while the platform is away: its queue is on disk.
    broker.stop()
    broker.start()
    second = connector()
    wait_for(lambda: stored(platform, key) == 2000)
    second.stop()
    assert sum(sink_calls) == 2000


def test_refused_credentials_are_an_auth_error(tmp_path: Path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    directory = tmp_path / "secured"
    directory.mkdir()
    secured = Broker(directory, extra="allow_anonymous false\npassword_file {data}/passwd\n")
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(directory / "passwd"), "plant", "right"], check=True
    )
    secured.start()
    try:
        url = f"mqtt://plant:wrong@127.0.0.1:{secured.port}"
        c = UnsConnector(MqttOptions.from_url(url, client_id="x"), UnsMapping([]), lambda b: None)
        c.start()
        with pytest.raises(ConnectorAuthFailed, match="refused the credentials"):
            c.wait_connected(timeout=5)
        c.stop()
        ok = UnsConnector(
            MqttOptions.from_url(url.replace("wrong", "right"), client_id="y"),
            UnsMapping([]),
            lambda b: None,
        )
        ok.start()
        ok.wait_connected()
        ok.stop()
    finally:
        secured.stop()


def test_failed_store_is_not_acknowledged_and_comes_again(
    broker: Broker, platform: Platform
) -> None:
    key = f"{MACHINE}/spindle_speed"
    failures = [RuntimeError("historian disk full")]

    def flaky_sink(batch: TelemetryBatch) -> object:
        if failures:
            raise failures.pop()
        return platform.pipeline.ingest(batch)

    c = UnsConnector(
        MqttOptions.from_url(broker.url, client_id="uns-flaky"),
        UnsMapping.from_tags([(key, {})]),
        flaky_sink,
    )
    c.start()
    c.wait_connected()
    pub = publisher(broker)
    publish_all(pub, [(key, orjson.dumps({"ts": T0 // 1000 + i, "value": i})) for i in range(300)])
    pub.disconnect()
    wait_for(lambda: stored(platform, key) == 300)
    c.stop()
    assert c.session.failures == 1


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made with openssl."""
    cert, key = directory / "server.pem", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_with_username_and_password(tmp_path: Path, platform: Platform) -> None:
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("openssl and mosquitto_passwd are needed")
    directory = tmp_path / "tls"
    directory.mkdir()
    cert, key = _self_signed(directory)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(directory / "passwd"), "plant", "s3cret"], check=True
    )
    tls = Broker(
        directory,
        extra=(
            "allow_anonymous false\npassword_file {data}/passwd\n"
            f"certfile {cert}\nkeyfile {key}\n"
        ),
    )
    tls.start()
    try:
        key_ = f"{MACHINE}/power"
        c = UnsConnector(
            MqttOptions.from_url(
                f"mqtts://plant:s3cret@127.0.0.1:{tls.port}", client_id="tls", ca_certs=str(cert)
            ),
            UnsMapping.from_tags([(key_, {})]),
            platform.pipeline.ingest,
        )
        c.start()
        c.wait_connected()
        pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-pub")
        pub.tls_set(ca_certs=str(cert))
        pub.username_pw_set("plant", "s3cret")
        pub.connect("127.0.0.1", tls.port)
        pub.loop_start()
        publish_all(pub, [(key_, b'{"ts": 1795000000000, "value": 12.5}')])
        pub.loop_stop()
        pub.disconnect()
        wait_for(lambda: stored(platform, key_) == 1)
        c.stop()
    finally:
        tls.stop()

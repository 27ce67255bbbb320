"""MQTT -> historian throughput, QoS 1 with acknowledgement after the durable store.

    python benchmarks/mqtt_ingest.py [--batched 20000] [--single 200000] [--flood 100000]

Starts its own Mosquitto (the lossless settings of docs/connect-mqtt.md) on a free port,
opens a platform on the example plant (embedded historian, SQLite) and measures:

- `mqtt_batched`: messages of 100 points (UNS JSON arrays on machine topics), QoS 1,
  published while the platform is away (the broker holds them, persisted), then drained by
  the UNS connector: points stored per second, every message acknowledged after its commit.
- `mqtt_single`: single-point messages drained the same way, messages stored per second,
  beside `paho_bare`: a bare paho subscriber (QoS 1, persistent session, automatic
  acknowledgement, nothing stored) draining the same number of messages in the same run.
- `mqtt_flood`: single-point messages published flat out (from another process) *while* the
  connector stores them; every point must arrive (back-pressure: the broker holds what the
  store cannot take yet). `mqtt_flood_stored` counts from the first publish to the last store.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import paho.mqtt.client as paho
from ingest import describe
from paho.mqtt.enums import CallbackAPIVersion

from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.mqtt.connector import UnsConnector
from ifactory.connect.mqtt.uns import UnsMapping
from ifactory.connect.mqtt_install import pipeline_sink
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.plant.loader import load_plant
from ifactory.platform import Platform

S = 1_000_000
START_US = 1_790_000_000 * S
CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_interval 1
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
queue_qos0_messages false
user {user}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(CONF.format(port=port, data=directory, user=getpass.getuser()))
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def publish(port: int, messages: list[tuple[str, bytes]], client_id: str) -> float:
    """Publish QoS 1 messages as fast as paho can; returns seconds until all are acknowledged."""
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    t0 = time.perf_counter()
    # Packet ids are 16 bits: never have more than 30,000 messages outstanding at once.
    for start in range(0, len(messages), 30_000):
        infos = [pub.publish(t, p, qos=1) for t, p in messages[start : start + 30_000]]
        for info in infos:
            info.wait_for_publish(timeout=600)
    elapsed = time.perf_counter() - t0
    pub.loop_stop()
    pub.disconnect()
    return elapsed


def subscribe_session(port: int, client_id: str, topic: str) -> None:
    """Create the persistent session (and its subscription) of `client_id`, then leave."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe(topic, qos=1)
    time.sleep(0.3)
    c.loop_stop()
    c.disconnect()


def forget_session(port: int, client_id: str) -> None:
    """End the persistent session of `client_id` (so the broker stops queueing for it)."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect("127.0.0.1", port)
    c.disconnect()


def bare_paho(port: int, client_id: str, expected: int) -> float:
    """A bare paho subscriber draining `expected` queued QoS 1 messages; returns messages/s."""
    done = threading.Event()
    count = 0
    t0 = 0.0

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal count, t0
        if count == 0:
            t0 = time.perf_counter()
        count += 1
        if count >= expected:
            done.set()

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    return (count - 1) / elapsed if elapsed > 0 else 0.0


def drain(connector: UnsConnector, expected_points: int) -> float:
    """Start the connector and wait until it stored `expected_points`; returns seconds."""
    connector.start()
    connector.wait_connected()
    while connector.points == 0:
        time.sleep(0.001)
    t0 = time.perf_counter()
    first = connector.points
    while connector.points < expected_points:
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    connector.stop()
    return elapsed * expected_points / max(1, expected_points - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batched", type=int, default=20_000, help="100-point messages")
    parser.add_argument("--single", type=int, default=200_000, help="single-point messages")
    parser.add_argument("--flood", type=int, default=100_000, help="messages of the flood test")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ifactory-bench-mqtt-"))
    broker_dir = work / "mosquitto"
    broker_dir.mkdir()
    proc, port = start_broker(broker_dir)
    url = f"mqtt://127.0.0.1:{port}"
    plant = load_plant()
    platform = Platform.open(
        Settings(environment="test", data_dir=work / "data"),
        clock=ManualClock(START_US + 10**6 * S),
        plant=plant,
    )
    try:
        machines = [n for n in plant.machines() if n.tags]
        keys = [t.key for t in platform.registry.tags.values()]
        mapping = UnsMapping.from_tags([(k, {}) for k in keys])
        numeric = {
            n.key: [t.name for t in n.tags if t.spec.data_type.value in ("float", "int")]
            for n in machines
        }
        # --- batched: 100 points per message --------------------------------------------------
        connector = UnsConnector(
            MqttOptions.from_url(url, client_id="bench-batched"), mapping, pipeline_sink(platform)
        )
        subscribe_session(port, "bench-batched", "#")
        msgs: list[tuple[str, bytes]] = []
        ts = START_US
        for i in range(args.batched):
            m = machines[i % len(machines)]
            names = numeric[m.key]
            doc = []
            for j in range(100):
                doc.append({"tag": names[j % len(names)], "ts_us": ts + j, "value": (i + j) % 97})
            ts += 100
            msgs.append((m.key, orjson.dumps(doc)))
        publish(port, msgs, "bench-pub-1")
        del msgs
        seconds = drain(connector, args.batched * 100)
        forget_session(port, "bench-batched")
        print(f"mqtt_batched: {args.batched * 100 / seconds:.0f} points/s", flush=True)
        # --- single-point messages, beside a bare paho subscriber ---------------------------
        subscribe_session(port, "bench-bare", "bare/#")
        topic = f"{machines[0].key}/{numeric[machines[0].key][0]}"
        single = [
            (topic, orjson.dumps({"ts_us": ts + i, "value": i % 89})) for i in range(args.single)
        ]
        connector = UnsConnector(
            MqttOptions.from_url(url, client_id="bench-single"),
            mapping,
            pipeline_sink(platform),
            topics=[topic],
        )
        subscribe_session(port, "bench-single", topic)
        publish(port, single, "bench-pub-2")
        ts += args.single
        bare = [(f"bare/{i % 100}", p) for i, (_, p) in enumerate(single)]
        publish(port, bare, "bench-pub-3")
        seconds = drain(connector, args.single)
        single_rate = args.single / seconds
        bare_rate = bare_paho(port, "bench-bare", args.single)
        print(f"mqtt_single: {single_rate:.0f} messages/s")
        print(f"paho_bare: {bare_rate:.0f} messages/s")
        print(f"mqtt_single_vs_bare: {single_rate / bare_rate:.2f} ratio")
        # --- flood: publish flat out while storing ------------------------------------------
        flood_key = f"{machines[1].key}/{numeric[machines[1].key][0]}"
        connector = UnsConnector(
            MqttOptions.from_url(url, client_id="bench-flood"),
            UnsMapping.from_tags([(flood_key, {})]),
            pipeline_sink(platform),
            topics=[flood_key],
        )
        connector.start()
        connector.wait_connected()
        flood = [
            (flood_key, orjson.dumps({"ts_us": ts + i, "value": i % 89})) for i in range(args.flood)
        ]
        # The publisher runs in its own process, so it is not slowed by this one's GIL.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            t0 = time.perf_counter()
            published_in = pool.apply(publish, (port, flood, "bench-pub-4"))
        while connector.points < args.flood and time.perf_counter() - t0 < 600:
            time.sleep(0.01)
        stored_in = time.perf_counter() - t0
        connector.stop()
        tag = platform.registry.tags_by_key[flood_key].id
        stored = len(platform.store.raw([tag], ts, ts + args.flood))
        print(f"mqtt_flood_offered: {args.flood / published_in:.0f} messages/s")
        print(f"mqtt_flood_stored: {args.flood / stored_in:.0f} messages/s")
        print(f"mqtt_flood_lost: {args.flood - stored} points")
    finally:
        platform.stop()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()

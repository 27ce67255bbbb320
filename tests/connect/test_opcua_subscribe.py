"""The OPC UA client against a real asyncua server (the simulated plant's), restarted mid-stream."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from ifactory.connect.opcua import (
    Deadband,
    OpcUaAuthFailed,
    OpcUaClient,
    OpcUaEndpoint,
    OpcUaPoint,
    OpcUaSource,
    OpcUaSubscriber,
    endpoints_from_plant,
)
from ifactory.connect.opcua.errors import OpcUaConfigInvalid, OpcUaNotReady
from ifactory.historian.batch import (
    BAD_NO_COMMUNICATION,
    GOOD,
    UNCERTAIN_LAST_USABLE_VALUE,
    TelemetryBatch,
)
from ifactory.plant.loader import Plant, expand, parse
from ifactory.sim.opcua_server import SimOpcUaServer, node_id_of

PLANT = """
enterprise:
  id: acme
  level: enterprise
  children:
    - id: site
      level: site
      children:
        - id: area
          level: area
          children:
            - id: mixer1
              level: work_unit
              tags:
                - {name: speed, unit: rpm, limits: {low: 0, high: 3000}}
                - {name: count, data_type: int}
                - {name: temp, unit: degC}
                - {name: recipe, data_type: string}
                - {name: running, data_type: bool}
"""
MIXER = "acme/site/area/mixer1"
BAD_NODE_ID_UNKNOWN = 0x80340000  # OPC 10000-4, 7.39
T0 = 1_900_000_000_000_000  # 2030: after any initial value the server stamps itself


@pytest.fixture(scope="module")
def plant() -> Plant:
    return expand(parse(PLANT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint(url: str, **kw: object) -> OpcUaEndpoint:
    defaults: dict[str, object] = {
        "publishing_interval_ms": 20,
        "watchdog_s": 0.2,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.4,
    }
    return OpcUaEndpoint(url=url, **{**defaults, **kw})


def point(name: str, **kw: object) -> OpcUaPoint:
    key = f"{MIXER}/{name}"
    return OpcUaPoint(key, OpcUaSource(node_id=node_id_of(key), **kw))


def write(
    server: SimOpcUaServer,
    name: str,
    value: float,
    ts: int,
    quality: int = GOOD,
    text: str | None = None,
) -> asyncio.Future[int]:
    batch = TelemetryBatch.of(
        [f"{MIXER}/{name}"],
        [ts],
        [value],
        [quality],
        received_us=ts,
        text=None if text is None else [text],
    )
    return asyncio.ensure_future(server.write_batch(batch))


async def until(predicate, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for a condition (a bound on a hang, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def flat(batches: list[TelemetryBatch], key: str) -> list[tuple[int, float, int]]:
    out = []
    for b in batches:
        for t, ts, v, q in zip(
            b.tags.tolist(), b.ts.tolist(), b.values.tolist(), b.quality.tolist(), strict=True
        ):
            if t == key:
                out.append((ts, v, q))
    return out


def test_reconnects_and_resumes_after_the_server_restarts(plant: Plant) -> None:
    port = free_port()
    batches: list[TelemetryBatch] = []
    written: list[tuple[int, float]] = []  # (ts, value) the server held while it was up

    async def main() -> OpcUaSubscriber:
        server = SimOpcUaServer(plant, port=port)
        await server.start()
        sub = OpcUaSubscriber(endpoint(server.url), [point("count")], batches.append)
        stop = asyncio.Event()
        task = asyncio.create_task(sub.run(stop))
        await until(lambda: sub.connects == 1, "first connect")
        n = 0

        async def produce(server: SimOpcUaServer, count: int) -> None:
            nonlocal n
            for _ in range(count):
                n += 1
                await write(server, "count", n, T0 + n * 1000)
                written.append((T0 + n * 1000, float(n)))
                await asyncio.sleep(0.02)

        await produce(server, 20)
        await server.stop()  # mid-stream: the machine's server goes away
        await until(
            lambda: any(q == BAD_NO_COMMUNICATION for _, _, q in flat(batches, f"{MIXER}/count")),
            "outage marker",
        )
        n += 1000  # what the machine counted while its server was down is not served by anyone
        server = SimOpcUaServer(plant, port=port)
        await server.start()
        await write(server, "count", n, T0 + n * 1000)
        written.append((T0 + n * 1000, float(n)))
        await until(lambda: sub.connects == 2, "reconnect")
        await produce(server, 20)
        await until(lambda: flat(batches, f"{MIXER}/count")[-1][1] == n, "last value")
        stop.set()
        await task
        await server.stop()
        return sub

    sub = asyncio.run(main())
    got = flat(batches, f"{MIXER}/count")
    values = [v for _, v, q in got if q == GOOD]
    marker = [i for i, (_, _, q) in enumerate(got) if q == BAD_NO_COMMUNICATION]
    assert len(marker) == 1 and sub.connects == 2
    before = [v for v in values if v <= 20]
    after = [v for v in values if v > 20]
    # Everything written while connected arrived, in order, with the server's timestamps:
    # the only values missing are the ones no server held (the outage itself).
    assert before[-1] == 20 and after == [v for _, v in written if v > 20]
    assert before == sorted(before) and set(before) >= set(range(2, 21))
    good = [(ts, v) for ts, v, q in got if q == GOOD and v > 1]
    assert good == [w for w in written if w[1] > 1 and w[1] in set(values)]


def test_deadband_status_codes_text_and_bounded_subscriptions(plant: Plant) -> None:
    batches: list[TelemetryBatch] = []

    async def main() -> int:
        server = SimOpcUaServer(plant, port=free_port())
        await server.start()
        points = [
            point("speed", deadband=Deadband(value=1.0)),
            point("temp"),
            point("recipe"),
            point("running"),
            point("count", sampling_interval_ms=0),
            OpcUaPoint(f"{MIXER}/ghost", OpcUaSource(node_id="ns=2;s=no/such/node")),
        ]
        clients: list[OpcUaClient] = []

        def factory(ep: OpcUaEndpoint) -> OpcUaClient:
            clients.append(OpcUaClient(ep))
            return clients[-1]

        sub = OpcUaSubscriber(
            endpoint(server.url, max_items_per_subscription=2),
            points,
            batches.append,
            client_factory=factory,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(sub.run(stop))
        await until(lambda: sub.connects == 1, "connect")
        await until(lambda: sum(len(b) for b in batches) >= 5, "initial values")
        for i, v in enumerate([10.0, 10.5, 12.0, 12.2, 15.0]):
            await write(server, "speed", v, T0 + i)
            await asyncio.sleep(0.05)
        await write(server, "temp", 85.5, T0 + 10, quality=UNCERTAIN_LAST_USABLE_VALUE)
        await write(server, "recipe", float("nan"), T0 + 11, text="R-42")
        await write(server, "running", 1.0, T0 + 12)
        await until(
            lambda: any(v == 15.0 for _, v, _ in flat(batches, f"{MIXER}/speed")), "last speed"
        )
        await until(lambda: len(flat(batches, f"{MIXER}/running")) >= 2, "running")
        subscriptions = clients[0].subscription_count
        stop.set()
        await task
        await server.stop()
        return subscriptions

    assert asyncio.run(main()) == 3  # 6 items, at most 2 per subscription
    # An item the server refuses is stored with the server's reason as its quality.
    assert [q for _, _, q in flat(batches, f"{MIXER}/ghost")] == [BAD_NODE_ID_UNKNOWN]
    speed = [v for ts, v, _ in flat(batches, f"{MIXER}/speed") if ts >= T0]
    assert speed == [10.0, 12.0, 15.0]  # changes under the 1.0 deadband were not sent
    [temp] = [x for x in flat(batches, f"{MIXER}/temp") if x[0] >= T0]
    assert temp == (T0 + 10, 85.5, UNCERTAIN_LAST_USABLE_VALUE)  # status code is the quality
    texts = [
        b.text[i]
        for b in batches
        if b.text is not None
        for i, t in enumerate(b.tags.tolist())
        if t == f"{MIXER}/recipe" and b.ts[i] >= T0
    ]
    assert texts == ["R-42"]
    assert flat(batches, f"{MIXER}/running")[-1][1:] == (1.0, GOOD)


def test_user_auth_and_clear_errors(plant: Plant, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        server = SimOpcUaServer(plant, port=free_port(), username="opc", password="right")
        await server.start()
        try:
            monkeypatch.setenv("IFACTORY_TEST_OPC_PW", "right")
            ok = OpcUaClient(
                endpoint(server.url, username="opc", password_env="IFACTORY_TEST_OPC_PW")
            )
            await ok.connect()
            assert len(await ok.browse()) == 5
            await ok.disconnect()
            with pytest.raises(OpcUaAuthFailed, match=r"refused.*user 'opc'"):
                await OpcUaClient(endpoint(server.url, username="opc"), password="wrong").connect()
            with pytest.raises(OpcUaAuthFailed, match=r"IFACTORY_TEST_OPC_MISSING .*is not set"):
                await OpcUaClient(
                    endpoint(server.url, username="opc", password_env="IFACTORY_TEST_OPC_MISSING")
                ).connect()
        finally:
            await server.stop()
        with pytest.raises(OpcUaNotReady, match="cannot connect"):
            await OpcUaClient(endpoint(server.url)).connect()

    asyncio.run(main())


def test_signed_and_encrypted_session_with_user(plant: Plant, tmp_path: Path) -> None:
    async def main() -> str | None:
        pki = {}
        for who, usage in (
            ("server", ExtendedKeyUsageOID.SERVER_AUTH),
            ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
        ):
            key, cert = tmp_path / f"{who}-key.pem", tmp_path / f"{who}-cert.der"
            uri = "urn:ifactory:sim:server" if who == "server" else "urn:ifactory:client"
            await setup_self_signed_certificate(
                key, cert, uri, "localhost", [usage], {"commonName": who}
            )
            pki[who] = (str(cert), str(key))
        server = SimOpcUaServer(
            plant,
            port=free_port(),
            username="opc",
            password="pw",
            certificate=pki["server"][0],
            private_key=pki["server"][1],
        )
        await server.start()
        try:
            secure = endpoint(
                server.url,
                security_policy="Basic256Sha256",
                security_mode="SignAndEncrypt",
                certificate=pki["client"][0],
                private_key=pki["client"][1],
                username="opc",
            )
            client = OpcUaClient(secure, password="pw")
            await client.connect()
            assert len(await client.browse()) == 5
            policy = client.security_policy_uri
            await client.disconnect()
            with pytest.raises(OpcUaConfigInvalid, match="needs 'certificate'"):
                await OpcUaClient(secure.model_copy(update={"certificate": None})).connect()
            return policy
        finally:
            await server.stop()

    policy = asyncio.run(main())
    assert policy is not None and policy.endswith("#Basic256Sha256")


def test_endpoints_and_sources_come_from_the_plant_file() -> None:
    text = PLANT.replace(
        "              tags:\n",
        "              attributes: {opcua: {url: 'opc.tcp://plc1:4840', username: opc,"
        " password_env: PLC1_PW, max_items_per_subscription: 500}}\n              tags:\n",
        1,
    ).replace(
        "{name: temp, unit: degC}",
        "{name: temp, unit: degC, sources: {opcua: {node_id: 'ns=3;s=Mixer1.Temp',"
        " sampling_interval_ms: 250, deadband: {value: 0.5}}}}",
    )
    [(ep, points)] = endpoints_from_plant(expand(parse(text)))
    assert (ep.url, ep.username, ep.password_env, ep.max_items_per_subscription) == (
        "opc.tcp://plc1:4840",
        "opc",
        "PLC1_PW",
        500,
    )
    assert points == [
        OpcUaPoint(
            f"{MIXER}/temp",
            OpcUaSource(
                node_id="ns=3;s=Mixer1.Temp", sampling_interval_ms=250, deadband=Deadband(value=0.5)
            ),
        )
    ]
    with pytest.raises(OpcUaConfigInvalid, match=r"mixer1/temp: sources\.opcua\.node_id"):
        endpoints_from_plant(expand(parse(text.replace("ns=3;s=Mixer1.Temp", "ns=x;q"))))

"""The connection and the bridge in-process: a real Mosquitto, and a fake broker for failures.

Proposed as tests/ingest/test_connection.py (outside the files this change may touch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityfabric.ingest import connection as connection_module
from cityfabric.ingest import mqtt as bridge_module
from cityfabric.ingest.connection import ConnectFailed, Connection
from cityfabric.ingest.mqtt import MqttBridge
from cityfabric.ingest.mqtt5 import Publish
from cityfabric.ingest.pipeline import Ingestor, Message, Outcome
from cityfabric.ingest.session import BrokerAddress
from tests import mosquitto
from tests.mosquitto import running_mosquitto

TOPIC = "cityfabric/default/devices/d1"
CONNACK = b"\x20\x03\x00\x00\x00"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def publish(port: int, count: int) -> None:
    """QoS 1 messages, returning once Mosquitto acknowledged them all."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="pub", protocol=paho.MQTTv311)
    client.connect("127.0.0.1", port)
    infos = [client.publish(TOPIC, f'{{"seq": {n}}}', qos=1) for n in range(count)]
    while not all(info.is_published() for info in infos):
        client.loop(0.05)
    client.disconnect()
    client.loop(0.05)


class Recorder(Ingestor):
    """An ingestor that keeps what it is given, can be held, and can fail."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False

    async def ingest(self, messages: Sequence[Message]) -> Outcome:
        await self.open.wait()
        if self.fail:
            raise RuntimeError("the store is down")
        self.got += messages
        return Outcome(written=len(messages))


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def connection(
    port: int, client_id: str, filters: list[str], host: str = "127.0.0.1"
) -> Connection:
    def ignore(_: Connection, __: list[Publish]) -> None:
        pass

    return Connection(
        BrokerAddress(host, port),
        client_id=client_id,
        session_expiry=60,
        filters=filters,
        on_messages=ignore,
    )


async def fake_broker(answer: bytes, seen: list[bytes]) -> asyncio.Server:
    """A broker that answers the first read with `answer`, then only listens."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.append(await reader.read(1000))
            writer.write(answer)
            while data := await reader.read(1000):
                seen.append(data)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def test_acks_only_what_was_written_and_resumes(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path) as broker:
        address = BrokerAddress("127.0.0.1", broker.port)
        recorder = Recorder()
        bridge = MqttBridge(recorder, address, client_id="cf")
        await bridge.start()
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await asyncio.to_thread(publish, broker.port, 5000)
        await until(lambda: bridge.stats.acked == 5000)
        assert len(recorder.got) == 5000
        recorder.open.clear()  # a batch that never commits is never acked
        await asyncio.to_thread(publish, broker.port, 300)
        await until(lambda: bridge.stats.received > 5000)
        await bridge.stop()
        assert bridge.stats.acked == 5000
        assert asyncio.all_tasks() == {asyncio.current_task()}
        again = Recorder()
        bridge = MqttBridge(again, address, client_id="cf")
        await bridge.start()  # the session is resumed: the broker sends the 300 again
        await until(lambda: bridge.stats.acked == 300)
        await bridge.stop()
        assert len(again.got) == 300


async def test_a_failed_write_reconnects_and_gets_the_batch_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge_module, "backoff_delay", lambda attempt: 0.05)
    with running_mosquitto(tmp_path) as broker:
        recorder = Recorder()
        recorder.fail = True
        bridge = MqttBridge(recorder, BrokerAddress("127.0.0.1", broker.port), client_id="cf")
        await bridge.start()
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await asyncio.to_thread(publish, broker.port, 100)
        await until(lambda: bridge.stats.failures >= 1)
        recorder.fail = False
        await until(lambda: bridge.stats.acked == 100)
        assert bridge.stats.connects >= 2
        await bridge.stop()


async def test_reconnects_after_a_broker_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge_module, "backoff_delay", lambda attempt: 0.2)
    port = mosquitto._free_port()
    monkeypatch.setattr(mosquitto, "_free_port", lambda: port)
    bridge = MqttBridge(Recorder(), BrokerAddress("127.0.0.1", port), client_id="cf")
    with running_mosquitto(tmp_path):
        await bridge.start()
        await asyncio.wait_for(bridge.connected.wait(), 5)
    await until(lambda: not bridge.connected.is_set())
    with running_mosquitto(tmp_path):
        await asyncio.wait_for(bridge.connected.wait(), 10)
        await asyncio.to_thread(publish, port, 50)
        await until(lambda: bridge.stats.acked == 50)
        await bridge.stop()
    assert bridge.stats.connects == 2


async def test_stops_at_once_while_the_broker_is_down() -> None:
    bridge = MqttBridge(
        Recorder(), BrokerAddress("127.0.0.1", mosquitto._free_port()), client_id="x"
    )
    await bridge.start()
    await asyncio.sleep(1)
    started = asyncio.get_running_loop().time()
    await bridge.stop()
    assert asyncio.get_running_loop().time() - started < 1
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_another_client_with_the_same_id_takes_the_session(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path) as broker:
        first = connection(broker.port, "same", ["x/#"])
        assert await first.open() is False
        second = connection(broker.port, "same", ["x/#"])
        assert await second.open() is True
        why = await asyncio.wait_for(first.lost, 5)
        # Mosquitto 2.0 closes the socket; newer ones say DISCONNECT 0x8E first
        assert "0x8E Session taken over" in why or why == "the broker closed the connection"
        await first.close()
        await second.close()


async def test_a_host_name_is_resolved_without_leaving_a_thread(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path) as broker:
        conn = connection(broker.port, "h", ["a/#"], host="localhost")
        assert await conn.open() is False
        await conn.close()


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (b"\x20\x03\x00\x87\x00", "refused the connection: 0x87 Not authorized"),
        (CONNACK + b"\x90\x05\x00\x01\x00\x01\x87", "refused a subscription: 0x87 Not authorized"),
        (CONNACK + b"\x90\x04\x00\x02\x00\x01", "SUBACK that does not answer"),
        (CONNACK + b"\xe0\x01\x8b", "disconnected: 0x8B Server shutting down"),
        (CONNACK + b"\x34\x05\x00\x01t\x00\x01", "protocol error: a PUBLISH with QoS 2"),
    ],
)
async def test_refusals_and_errors_fail_the_connect(answer: bytes, says: str) -> None:
    seen: list[bytes] = []
    server = await fake_broker(answer, seen)
    conn = connection(port_of(server), "r", ["a", "b"])
    with pytest.raises(ConnectFailed, match=says):
        await conn.open()
    await conn.close()
    server.close()
    await server.wait_closed()
    if "protocol error" in says:
        assert b"".join(seen).endswith(b"\xe0\x01\x81")  # DISCONNECT: malformed packet


async def test_a_silent_broker_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_module, "KEEPALIVE_S", 1)
    seen: list[bytes] = []
    server = await fake_broker(CONNACK + b"\x90\x04\x00\x01\x00\x01", seen)
    conn = connection(port_of(server), "m", ["a"])
    assert await conn.open() is False
    why = await asyncio.wait_for(conn.lost, 5)
    assert why.startswith("no packet from the broker for")
    assert b"\xc0\x00" in b"".join(seen)  # it did ping
    await conn.close()
    server.close()
    await server.wait_closed()

"""The MQTT 5 codec: round trips, packets split anywhere, malformed input refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityfabric.ingest.mqtt5 import (
    MAX_VARINT,
    NOT_UTF8_TOPIC,
    PINGREQ,
    ConnAck,
    Control,
    Disconnect,
    PingResp,
    ProtocolError,
    Publish,
    Refused,
    SubAck,
    decode_packets,
    decode_varint,
    encode_connect,
    encode_disconnect,
    encode_pubacks,
    encode_subscribe,
    encode_varint,
)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return len(raw).to_bytes(2, "big") + raw


def publish(
    topic: str | bytes, payload: bytes, packet_id: int = 0, qos: int = 0, properties: bytes = b""
) -> bytes:
    """A PUBLISH as a broker sends it (test-only: the bridge never publishes)."""
    body = string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    body += encode_varint(len(properties)) + properties + payload
    return packet(0x30 | qos << 1, body)


def decode_all(data: bytes) -> tuple[list[Publish], list[Control]]:
    decoded = decode_packets(bytearray(data))
    assert decoded.consumed == len(data)
    return decoded.publishes, decoded.controls


CONNACK = packet(0x20, b"\x01\x00\x03\x13\x00\x3c")  # session present, Server Keep Alive 60
SUBACK = packet(0x90, b"\x00\x01\x00\x01\x01")
PINGRESP = b"\xd0\x00"
DISCONNECT = packet(0xE0, b"\x8b" + encode_varint(10) + b"\x1f" + string("bye now"))
STREAM = [
    (CONNACK, ConnAck(True, 60)),
    (
        publish("cityfabric/default/devices/a", b'{"p": 1}', 1, 1),
        ("cityfabric/default/devices/a", b'{"p": 1}', 1, 1),
    ),
    (SUBACK, SubAck(1, (1, 1))),
    (publish("t/é", b"x" * 300, 65535, 1), ("t/é", b"x" * 300, 65535, 1)),
    (publish("q0", b"", 0, 0), ("q0", b"", 0, 0)),
    (PINGRESP, PingResp()),
    (
        publish("p", b"v", 7, 1, b"\x02\x00\x00\x00\x3c\x26" + string("k") + string("v")),
        ("p", b"v", 7, 1),
    ),
    (DISCONNECT, Disconnect(0x8B, "bye now")),
]


# variable byte integers


@given(st.integers(0, MAX_VARINT), st.binary(max_size=4))
def test_varint_round_trip(n: int, after: bytes) -> None:
    raw = encode_varint(n)
    assert len(raw) == 1 + (n > 127) + (n > 16_383) + (n > 2_097_151)
    assert decode_varint(raw + after, 0, len(raw) + len(after)) == (n, len(raw))
    for cut in range(len(raw)):  # a prefix is not yet a number
        assert decode_varint(raw, 0, cut) is None


@pytest.mark.parametrize("raw", [b"\xff\xff\xff\xff\x01", b"\x80\x80\x80\x80", b"\x80\x00"])
def test_bad_varints(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_varint(raw, 0, len(raw))


@pytest.mark.parametrize("n", [-1, MAX_VARINT + 1])
def test_varint_range(n: int) -> None:
    with pytest.raises(ValueError, match="variable byte integer"):
        encode_varint(n)


# PUBLISH


publishes = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=80),
        st.binary(max_size=400),
        st.integers(1, 65535),
        st.sampled_from([0, 1]),
    ),
    max_size=20,
)


# properties a broker may forward with a message: skipped by their length
properties = st.sampled_from(
    [
        b"",
        b"\x01\x01",  # payload format: UTF-8
        b"\x02\x00\x00\x0e\x10",  # message expiry 3,600 s
        b"\x03" + string("application/json"),
        b"\x0b\x80\x01",  # subscription identifier 128
        b"\x26" + string("site") + string("minsk") + b"\x09" + string(b"\x00\xff"),
    ]
)


@given(publishes, st.data())
def test_publish_round_trip(messages: list[Publish], data: st.DataObject) -> None:
    expected = [(t, p, i if q else 0, q) for t, p, i, q in messages]
    raw = b"".join(publish(t, p, i, q, data.draw(properties)) for t, p, i, q in expected)
    assert decode_all(raw) == (expected, [])


@given(publishes, st.lists(st.integers(1, 200), min_size=1))
def test_publish_stream_in_any_chunks(messages: list[Publish], sizes: list[int]) -> None:
    expected = [(t, p, i if q else 0, q) for t, p, i, q in messages]
    data = b"".join(publish(t, p, i, q) for t, p, i, q in expected)
    got: list[Publish] = []
    buffer, pos, n = bytearray(), 0, 0
    while pos < len(data):  # as the connection's read loop does
        size = sizes[n % len(sizes)]
        buffer += data[pos : pos + size]
        pos, n = pos + size, n + 1
        decoded = decode_packets(buffer)
        del buffer[: decoded.consumed]
        got += decoded.publishes
    assert got == expected
    assert not buffer


def test_every_split_of_a_stream() -> None:
    data = b"".join(raw for raw, _ in STREAM)
    want_publishes = [p for _, p in STREAM if isinstance(p, tuple)]
    want_controls = [p for _, p in STREAM if not isinstance(p, tuple)]
    for cut in range(len(data) + 1):
        first = decode_packets(bytearray(data[:cut]))
        rest = data[first.consumed : cut] + data[cut:]
        second = decode_packets(rest)
        assert second.consumed == len(rest), cut
        assert first.publishes + second.publishes == want_publishes, cut
        assert first.controls + second.controls == want_controls, cut


@pytest.mark.parametrize("size", [127, 128, 16_383, 16_384, 2_097_152])
def test_remaining_lengths_of_every_width(size: int) -> None:
    raw = publish("t", b"\xab" * size, 9, 1)
    assert decode_all(raw + PINGRESP) == ([("t", b"\xab" * size, 9, 1)], [PingResp()])


def test_a_topic_that_is_not_utf8_is_kept_for_the_dead_letter() -> None:
    assert decode_all(publish(b"cityfabric/\xff", b"{}", 3, 1))[0] == [
        (NOT_UTF8_TOPIC, b"{}", 3, 1)
    ]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (publish("t", b"x", 1, 1, b"\x23\x00\x01"), "topic alias"),
        (publish("", b"x", 1, 1, b"\x23\x00\x01"), "without a topic name"),
        (publish("t", b"x", 1, 2), "QoS 2"),
        (packet(0x36, string("t") + b"\x00\x01\x00"), "QoS 3"),
        (publish("t", b"x", 0, 1), "packet identifier 0"),
        (packet(0x32, string("topic")[:4]), "shorter than"),
        (packet(0x32, string("t") + b"\x00\x01"), "shorter than"),
        (packet(0x30, b"\x00"), "shorter than"),
        (packet(0x32, string("t") + b"\x00\x01\x05\x02\x00"), "run past the packet"),
        (packet(0x32, string("t") + b"\x00\x01\x02\x7f\x00"), "unknown property"),
        (packet(0x32, string("t") + b"\x00\x01\x02\x02\x00x"), "runs past the properties"),
        (packet(0x32, string("t") + b"\x00\x01\x03\x08\x00\x05"), "runs past the properties"),
        (packet(0x32, string("t") + b"\x00\x01\x81"), "property length"),
        (b"\x30\xff\xff\xff\xff\x01", "longer than four bytes"),
        (packet(0x21, b"\x00\x00"), "reserved flags"),
        (packet(0x20, b"\x02\x00\x00"), "reserved flags"),
        (packet(0x20, b"\x00\x00\x00\x00"), "bytes after the properties"),
        (packet(0x20, b"\x00"), "type 2"),
        (packet(0x90, b"\x00\x01\x00"), "without reason codes"),
        (b"\xd0\x01\x00", "type 13"),
        (b"\x40\x02\x00\x01", "type 4"),
        (b"\x00\x00", "type 0"),
        (packet(0xE0, b"\x00\x03\x1f\x00\x05"), "runs past the properties"),
    ],
)
def test_malformed_packets(raw: bytes, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        decode_packets(bytearray(raw))


@given(st.binary(max_size=64))
def test_garbage_is_refused_or_waits_never_crashes(raw: bytes) -> None:
    try:
        decoded = decode_packets(bytearray(raw))
    except (ProtocolError, Refused):
        return
    assert 0 <= decoded.consumed <= len(raw)


# control packets from the broker


def test_connack() -> None:
    assert decode_all(CONNACK) == ([], [ConnAck(True, 60)])
    assert decode_all(packet(0x20, b"\x00\x00\x00")) == ([], [ConnAck(False, None)])


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (packet(0x20, b"\x00\x87\x00"), r"refused the connection: 0x87 Not authorized$"),
        (
            packet(0x20, b"\x00\x86" + encode_varint(7) + b"\x1f" + string("nope")),
            r"0x86 Bad User Name or Password \(nope\)",
        ),
        (packet(0x20, b"\x00\x01"), "MQTT 3.1.1 return code"),
        (packet(0x90, b"\x00\x01\x00\x01\x80"), r"refused a subscription: 0x80 Unspecified error"),
        (packet(0x90, b"\x00\x01\x00\x8f"), "0x8F Topic Filter invalid"),
        (packet(0x90, b"\x00\x01\x00\xa2"), "0xA2 Wildcard Subscriptions not supported"),
    ],
)
def test_refusals_name_the_reason_code(raw: bytes, says: str) -> None:
    with pytest.raises(Refused, match=says) as refused:
        decode_packets(raw)
    assert refused.value.reason_code == (raw[3] if raw[0] == 0x20 else raw[-1])


def test_disconnect_from_the_broker() -> None:
    assert decode_all(b"\xe0\x00") == ([], [Disconnect(0, "")])
    assert decode_all(b"\xe0\x01\x8e") == ([], [Disconnect(0x8E, "")])
    (bye,) = decode_all(DISCONNECT)[1]
    assert str(bye) == "the broker disconnected: 0x8B Server shutting down (bye now)"


# what the bridge sends


def test_connect() -> None:
    raw = encode_connect(
        "cf-1", keepalive=30, clean_start=False, session_expiry=86_400, receive_maximum=10_000
    )
    props = b"\x11" + (86_400).to_bytes(4, "big") + b"\x21" + (10_000).to_bytes(2, "big")
    variable = string("MQTT") + b"\x05\x00\x00\x1e" + bytes([len(props)]) + props
    assert raw == packet(0x10, variable + string("cf-1"))
    secured = encode_connect(
        "c",
        keepalive=0,
        clean_start=True,
        session_expiry=0,
        receive_maximum=1,
        username="u",
        password="p",
    )
    assert secured[9] == 0x80 | 0x40 | 0x02  # user name, password, clean start
    assert secured.endswith(string("c") + string("u") + string("p"))


@pytest.mark.parametrize(
    "bad", [{"keepalive": 70_000}, {"receive_maximum": 0}, {"session_expiry": 1 << 32}]
)
def test_connect_checks_its_numbers(bad: dict[str, int]) -> None:
    args = {"keepalive": 30, "session_expiry": 1, "receive_maximum": 10} | bad
    with pytest.raises(ValueError):
        encode_connect("c", clean_start=False, **args)


def test_subscribe() -> None:
    raw = encode_subscribe(1, ["$share/g/a/+", "b/#"])
    assert raw == packet(
        0x82, b"\x00\x01\x00" + string("$share/g/a/+") + b"\x01" + string("b/#") + b"\x01"
    )
    with pytest.raises(ValueError):
        encode_subscribe(0, ["a"])


@given(st.lists(st.integers(1, 65535), max_size=50))
def test_pubacks_in_one_buffer(ids: list[int]) -> None:
    assert encode_pubacks(ids) == b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in ids)


def test_ping_and_disconnect() -> None:
    assert PINGREQ == b"\xc0\x00"
    assert encode_disconnect() == b"\xe0\x00"
    assert encode_disconnect(0x81) == b"\xe0\x01\x81"

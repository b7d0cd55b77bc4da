"""The MQTT 5 wire format a QoS-1 subscriber needs: pure functions over bytes.

Encoders for what the bridge sends (CONNECT, SUBSCRIBE, PUBACK, PINGREQ,
DISCONNECT) and for the PUBLISH of notifications (`notify/mqtt_out.py`), and one
batch decoder for what the broker sends (CONNACK, SUBACK, PUBLISH, PINGRESP,
DISCONNECT). One socket read of 64 KiB or more holds
hundreds of PUBLISH packets, so `decode_packets` parses a whole buffer in one
loop, with the common PUBLISH (no properties) inline, at about a microsecond
a packet. Malformed input raises `ProtocolError`; a refused connection or
subscription raises `Refused` naming the reason code.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

MAX_VARINT = 268_435_455  # four bytes of seven bits
NOT_UTF8_TOPIC = "(topic is not UTF-8)"
PINGREQ = b"\xc0\x00"
TOPIC_ALIAS = 0x23
SERVER_KEEP_ALIVE = 0x13
REASON_STRING = 0x1F

# topic, payload, packet id (0 for QoS 0), QoS
Publish = tuple[str, bytes, int, int]

_FIXED_SIZES = {"byte": 1, "u16": 2, "u32": 4}
# property identifier -> how its value is encoded (MQTT 5, section 2.2.2.2)
PROPERTY_KINDS: dict[int, str] = {
    0x01: "byte",  # Payload Format Indicator
    0x02: "u32",  # Message Expiry Interval
    0x03: "str",  # Content Type
    0x08: "str",  # Response Topic
    0x09: "bin",  # Correlation Data
    0x0B: "varint",  # Subscription Identifier
    0x11: "u32",  # Session Expiry Interval
    0x12: "str",  # Assigned Client Identifier
    0x13: "u16",  # Server Keep Alive
    0x15: "str",  # Authentication Method
    0x16: "bin",  # Authentication Data
    0x17: "byte",  # Request Problem Information
    0x18: "u32",  # Will Delay Interval
    0x19: "byte",  # Request Response Information
    0x1A: "str",  # Response Information
    0x1C: "str",  # Server Reference
    0x1F: "str",  # Reason String
    0x21: "u16",  # Receive Maximum
    0x22: "u16",  # Topic Alias Maximum
    0x23: "u16",  # Topic Alias
    0x24: "byte",  # Maximum QoS
    0x25: "byte",  # Retain Available
    0x26: "pair",  # User Property
    0x27: "u32",  # Maximum Packet Size
    0x28: "byte",  # Wildcard Subscription Available
    0x29: "byte",  # Subscription Identifier Available
    0x2A: "byte",  # Shared Subscription Available
}

REASON_NAMES: dict[int, str] = {
    0x00: "Success",
    0x04: "Disconnect with Will Message",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}


class ProtocolError(Exception):
    """The broker sent something that is not valid MQTT 5 for this client."""


class Refused(Exception):
    """The broker refused the connection or a subscription."""

    def __init__(self, what: str, reason_code: int, reason: str = "") -> None:
        self.reason_code = reason_code
        detail = f" ({reason})" if reason else ""
        super().__init__(f"the broker refused {what}: {reason_name(reason_code)}{detail}")


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    server_keepalive: int | None  # when set, the client must use it instead of its own


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reason_codes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason_code: int
    reason: str

    def __str__(self) -> str:
        detail = f" ({self.reason})" if self.reason else ""
        return f"the broker disconnected: {reason_name(self.reason_code)}{detail}"


Control = ConnAck | SubAck | PingResp | Disconnect


class Decoded(NamedTuple):
    publishes: list[Publish]
    controls: list[Control]
    consumed: int  # bytes of whole packets; the rest is the start of a packet


def reason_name(code: int) -> str:
    """`0x87 Not authorized`."""
    return f"0x{code:02X} {REASON_NAMES.get(code, 'unknown reason code')}"


# encoding


def encode_varint(n: int) -> bytes:
    """A Variable Byte Integer: seven bits a byte, least significant first, at most four."""
    if not 0 <= n <= MAX_VARINT:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, byte = divmod(n, 0x80)
        if not n:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if len(raw) > 0xFFFF:
        raise ValueError("an MQTT string or binary value is at most 65,535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    keepalive: int,
    clean_start: bool,
    session_expiry: int,
    receive_maximum: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT, protocol level 5, with Session Expiry Interval and Receive Maximum."""
    if not (0 <= keepalive <= 0xFFFF and 1 <= receive_maximum <= 0xFFFF):
        raise ValueError("keepalive is 0-65535 s and receive_maximum 1-65535")
    if not 0 <= session_expiry <= 0xFFFF_FFFF:
        raise ValueError("session_expiry is 0-4294967295 s")
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    props = (
        b"\x11" + session_expiry.to_bytes(4, "big") + b"\x21" + receive_maximum.to_bytes(2, "big")
    )
    body = _string("MQTT") + bytes([5, flags]) + keepalive.to_bytes(2, "big")
    body += encode_varint(len(props)) + props + _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password.encode())
    return _packet(0x10, body)


def encode_subscribe(packet_id: int, filters: Sequence[str], *, qos: int = 1) -> bytes:
    """SUBSCRIBE to every filter with the given maximum QoS (no properties)."""
    if not 1 <= packet_id <= 0xFFFF or not filters or qos not in (0, 1, 2):
        raise ValueError("SUBSCRIBE needs a packet id 1-65535, filters and a QoS 0-2")
    body = packet_id.to_bytes(2, "big") + b"\x00"
    body += b"".join(_string(f) + bytes([qos]) for f in filters)
    return _packet(0x82, body)


def encode_pubacks(packet_ids: Sequence[int]) -> bytes:
    """One PUBACK (success, no properties) per packet id, back to back, for one write.

    The ids come from `decode_packets`, which guarantees 1-65535.
    """
    return struct.pack(f">{len(packet_ids)}I", *[0x4002_0000 | pid for pid in packet_ids])


def encode_publish(
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    packet_id: int = 0,
    content_type: str | None = None,
    user_properties: Sequence[tuple[str, str]] = (),
) -> bytes:
    """PUBLISH (QoS 0 or 1, not retained) with Content Type and User Property properties."""
    if qos not in (0, 1) or (qos == 1) != (1 <= packet_id <= 0xFFFF) or not topic:
        raise ValueError("PUBLISH needs a topic, QoS 0 or 1, and a packet id 1-65535 for QoS 1")
    props = b"" if content_type is None else b"\x03" + _string(content_type)
    props += b"".join(b"\x26" + _string(k) + _string(v) for k, v in user_properties)
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    body += encode_varint(len(props)) + props + payload
    return _packet(0x30 | qos << 1, body)


def encode_disconnect(reason_code: int = 0) -> bytes:
    """DISCONNECT; 0x00 (normal) keeps the session and discards the will."""
    return b"\xe0\x00" if reason_code == 0 else bytes([0xE0, 1, reason_code])


# decoding


def decode_varint(data: bytes | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it), or None when `data[:end]` stops inside it."""
    value = shift = 0
    for i in range(pos, min(pos + 4, end)):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and i > pos:
                raise ProtocolError("a variable byte integer is not in its shortest form")
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise ProtocolError("a variable byte integer is longer than four bytes")
    return None


def decode_packets(buf: bytes | bytearray) -> Decoded:
    """Every whole packet at the start of `buf`, and how many bytes they take."""
    data = bytes(buf)  # slices of bytes are bytes: one copy per payload, not two
    end = len(data)
    publishes: list[Publish] = []
    controls: list[Control] = []
    append = publishes.append
    pos = 0
    while end - pos >= 2:
        first = data[pos]
        size = data[pos + 1]
        if size < 0x80:
            start = pos + 2
        else:
            found = decode_varint(data, pos + 1, end)
            if found is None:
                break
            size, start = found
        stop = start + size
        if stop > end:
            break
        if first & 0xF0 != 0x30:
            controls.append(_control(data, first, start, stop))
            pos = stop
            continue
        # PUBLISH: topic, packet id (QoS 1), properties, payload
        qos = (first >> 1) & 3
        topic_end = start + 2 + (data[start] << 8 | data[start + 1]) if size >= 2 else stop
        props = topic_end + 2 if qos else topic_end
        if props >= stop or topic_end == start + 2 or qos > 1:
            raise ProtocolError(_publish_fault(qos, topic_end - start - 2))
        packet_id = data[topic_end] << 8 | data[topic_end + 1] if qos else 0
        if qos and not packet_id:
            raise ProtocolError("a QoS 1 PUBLISH with packet identifier 0")
        try:
            topic = data[start + 2 : topic_end].decode()
        except UnicodeDecodeError:
            # dead-lettered rather than refused: a refusal would bring it back forever
            topic = NOT_UTF8_TOPIC
        payload = props + 1 if data[props] == 0 else _skip_publish_properties(data, props, stop)
        append((topic, data[payload:stop], packet_id, qos))
        pos = stop
    return Decoded(publishes, controls, pos)


def _publish_fault(qos: int, topic_length: int) -> str:
    if qos > 1:
        return f"a PUBLISH with QoS {qos} on a QoS 1 subscription"
    if topic_length == 0:
        return "a PUBLISH without a topic name (topic aliases are not allowed)"
    return "a PUBLISH shorter than its topic, packet identifier and properties"


def _skip_publish_properties(data: bytes, pos: int, stop: int) -> int:
    """Where the payload starts; a topic alias is refused (we set no Topic Alias Maximum)."""
    props, payload = _properties(data, pos, stop)
    if TOPIC_ALIAS in props:
        raise ProtocolError("a PUBLISH uses a topic alias, which this client did not allow")
    return payload


def _control(data: bytes, first: int, start: int, stop: int) -> Control:
    kind, flags, size = first >> 4, first & 0x0F, stop - start
    if flags:
        raise ProtocolError(f"packet type {kind} with reserved flags {flags:#x}")
    if kind == 2 and size >= 2:
        return _connack(data, start, stop)
    if kind == 9 and size >= 3:
        return _suback(data, start, stop)
    if kind == 13 and size == 0:
        return PingResp()
    if kind == 14:
        if size == 0:
            return Disconnect(0, "")
        props = _whole_properties(data, start + 1, stop) if size > 1 else {}
        return Disconnect(data[start], _text(props.get(REASON_STRING)))
    raise ProtocolError(f"unexpected or malformed packet of type {kind} ({size} bytes)")


def _connack(data: bytes, start: int, stop: int) -> ConnAck:
    ack_flags, code = data[start], data[start + 1]
    if ack_flags & 0xFE:
        raise ProtocolError(f"CONNACK with reserved flags {ack_flags:#x}")
    if 0 < code < 0x80:  # an MQTT 3.1.1 broker answers in its own format
        raise Refused("the connection", code, "an MQTT 3.1.1 return code: is it an MQTT 5 broker?")
    props = _whole_properties(data, start + 2, stop) if stop > start + 2 else {}
    if code:
        raise Refused("the connection", code, _text(props.get(REASON_STRING)))
    keepalive = props.get(SERVER_KEEP_ALIVE)
    return ConnAck(bool(ack_flags & 1), keepalive if isinstance(keepalive, int) else None)


def _suback(data: bytes, start: int, stop: int) -> SubAck:
    packet_id = data[start] << 8 | data[start + 1]
    props, codes_start = _properties(data, start + 2, stop)
    codes = tuple(data[codes_start:stop])
    if not codes:
        raise ProtocolError("a SUBACK without reason codes")
    for code in codes:
        if code >= 0x80:
            raise Refused("a subscription", code, _text(props.get(REASON_STRING)))
    return SubAck(packet_id, codes)


def _properties(data: bytes, pos: int, stop: int) -> tuple[dict[int, int | str | bytes], int]:
    """The properties at `pos` (the last value of each id) and where they end."""
    found = decode_varint(data, pos, stop)
    if found is None:
        raise ProtocolError("a property length runs past the packet")
    length, pos = found
    end = pos + length
    if end > stop:
        raise ProtocolError("properties run past the packet")
    props: dict[int, int | str | bytes] = {}
    while pos < end:
        ident = data[pos]
        kind = PROPERTY_KINDS.get(ident)
        if kind is None:
            raise ProtocolError(f"unknown property {ident:#04x}")
        props[ident], pos = _property_value(data, kind, pos + 1, end)
    return props, end


def _whole_properties(data: bytes, pos: int, stop: int) -> dict[int, int | str | bytes]:
    """Properties that end the packet."""
    props, end = _properties(data, pos, stop)
    if end != stop:
        raise ProtocolError("bytes after the properties of a packet that ends with them")
    return props


def _property_value(data: bytes, kind: str, pos: int, end: int) -> tuple[int | str | bytes, int]:
    fixed = _FIXED_SIZES.get(kind)
    if fixed is not None:
        if pos + fixed > end:
            raise ProtocolError("a property value runs past the properties")
        return int.from_bytes(data[pos : pos + fixed], "big"), pos + fixed
    if kind == "varint":
        found = decode_varint(data, pos, end)
        if found is None:
            raise ProtocolError("a property value runs past the properties")
        return found
    value, pos = _binary(data, pos, end)
    if kind == "pair":  # a user property: name and value; the name is dropped
        value, pos = _binary(data, pos, end)
    return (value if kind == "bin" else value.decode("utf-8", "replace")), pos


def _binary(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    if pos + 2 > end:
        raise ProtocolError("a string runs past the properties")
    stop = pos + 2 + (data[pos] << 8 | data[pos + 1])
    if stop > end:
        raise ProtocolError("a string runs past the properties")
    return data[pos + 2 : stop], stop


def _text(value: int | str | bytes | None) -> str:
    return value if isinstance(value, str) else ""

"""Fixtures shared by the notification tests."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

from tests.mosquitto import Broker

Message = tuple[str, bytes, dict[str, Any]]  # topic, payload, qos / content type / user props


@pytest.fixture
def inbox(broker: Broker) -> Iterator[queue.Queue[Message]]:
    """Messages on `city/#`, received by a paho MQTT 5 subscriber at QoS 2."""
    got: queue.Queue[Message] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props: Properties | None = msg.properties
        meta = {
            "qos": msg.qos,
            "content_type": getattr(props, "ContentType", None),
            "user": dict(getattr(props, "UserProperty", []) or []),
        }
        got.put((msg.topic, msg.payload, meta))

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.connect(broker.host, broker.port)
    client.subscribe("city/#", qos=2)
    client.loop_start()
    try:
        subscribed.get(timeout=5)
        yield got
    finally:
        client.disconnect()
        client.loop_stop()

"""mqtts:// and https:// notifications, checked against CITYFABRIC_NOTIFICATION_CA_FILE.

The test makes its own CA and a server certificate for 127.0.0.1 with the `openssl`
command, and starts a real Mosquitto with a plain listener (for the test's paho
subscriber) and a TLS listener (for CityFabric) on free loopback ports.
"""

from __future__ import annotations

import getpass
import queue
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_notifications import lamp, subscribe, write
from tests.conftest import SDM_CONTEXTS
from tests.mosquitto import Broker, _free_port, _wait_listening, require_mosquitto
from tests.notify.conftest import Message
from tests.notify.receiver import receiver
from tests.notify.test_mqtt_delivery import wait_status

EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsBroker(Broker):
    """A broker with a plain listener (`port`) and a TLS one (`tls_port`)."""

    tls_port: int = 0


def openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A CA and a certificate for 127.0.0.1 signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path / "pki"
    folder.mkdir()
    openssl(
        folder,
        *("req", "-x509", *EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2"),
        *("-subj", "/CN=CityFabric test CA"),
    )
    openssl(folder, "req", *EC, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=x")
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl(
        folder,
        *("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf"),
    )
    return Pki(folder / "ca.crt", folder / "server.crt", folder / "server.key")


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    binary = require_mosquitto()
    plain, tls = _free_port(), _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nper_listener_settings false\nallow_anonymous true\n"
        f"listener {plain} 127.0.0.1\n"
        f"listener {tls} 127.0.0.1\ncertfile {pki.cert}\nkeyfile {pki.key}\n"
    )
    log = tmp_path / "mosquitto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
    try:
        _wait_listening(plain, process, log)
        _wait_listening(tls, process, log)
        yield TlsBroker("127.0.0.1", plain, log, tls)
    finally:
        process.terminate()
        process.wait(10)


def app(tmp_path: Path, ca_file: Path | None) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data",
        context_cache=SDM_CONTEXTS,
        notification_max_attempts=2,
        notification_retry_base=0.05,
        notification_retry_max=0.1,
        notification_timeout=2.0,
        notification_ca_file=ca_file,
    )
    return TestClient(create_app(settings), base_url="http://testserver")


def mqtts_subscription(client: TestClient, broker: TlsBroker, qos: str) -> str:
    uri = f"mqtts://127.0.0.1:{broker.tls_port}/city/secure"
    info = [{"key": "MQTT-QoS", "value": qos}]
    return subscribe(client, uri, notification={"endpoint": {"uri": uri, "notifierInfo": info}})


@pytest.mark.parametrize("qos", ["0", "1", "2"])
def test_mqtts_trusts_the_configured_ca(
    tmp_path: Path, pki: Pki, broker: TlsBroker, inbox: queue.Queue[Message], qos: str
) -> None:
    with app(tmp_path, pki.ca) as client:
        sub = mqtts_subscription(client, broker, qos)
        write(client, lamp())
        topic, payload, meta = inbox.get(timeout=10)
        assert (topic, meta["qos"]) == ("city/secure", int(qos))
        assert orjson.loads(payload)["subscriptionId"] == sub
        assert wait_status(client, sub, lambda n: n.get("timesSent") == 1)["timesFailed"] == 0


def test_mqtts_refuses_a_broker_it_cannot_verify(
    tmp_path: Path, broker: TlsBroker, inbox: queue.Queue[Message]
) -> None:
    with app(tmp_path, None) as client:  # the system's CA store does not know our CA
        sub = mqtts_subscription(client, broker, "1")
        write(client, lamp())
        found = wait_status(client, sub, lambda n: "gave up" in n.get("lastFailureReason", ""))
        assert "CERTIFICATE_VERIFY_FAILED" in found["lastFailureReason"]
        assert found["lastFailureReason"].startswith("gave up after 2 attempts: mqtts://")
        assert inbox.empty()


def test_https_endpoint_trusts_the_configured_ca(tmp_path: Path, pki: Pki) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.cert, pki.key)
    with receiver(tls=server) as rec, app(tmp_path, pki.ca) as client:
        assert rec.url.startswith("https://")
        subscribe(client, rec.url)
        write(client, lamp())
        assert rec.wait(lambda got: len(got) == 1)[0].body["type"] == "Notification"


def test_an_unreadable_ca_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="notification_ca_file"):
        app(tmp_path, tmp_path / "missing.pem")

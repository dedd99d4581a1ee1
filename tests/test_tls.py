"""TLS for client and replication traffic: a leader and a follower serving HTTPS with a
certificate from the test's own CA (made with ``cryptography``), boto3 verifying it, the
follower streaming and bootstrapping over TLS with signatures verified, and a follower
that does not trust the CA refusing the leader."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import urllib.request
import uuid

import boto3
import orjson
import pytest
from botocore.config import Config

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from dynovault.signing import PeerCredentials  # noqa: E402
from dynovault.testing.processes import ServerProcess  # noqa: E402
from tests.test_replication_trust import HASH_TABLE, wait_for  # noqa: E402

KEY, SECRET = "AKIDTLS", "tls/secret"
SIGNER = PeerCredentials(KEY, SECRET)


def _certificate(subject: str, issuer_key, issuer_name, public_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1, as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dynovault test CA")])
    ca_cert = _certificate("dynovault test CA", ca_key, ca_name, ca_key.public_key(), ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("127.0.0.1", ca_key, ca_name, server_key.public_key(), ca=False)
    (root / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (root / "cert.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (root / "credentials").write_text(f"{KEY} {SECRET}\n")
    return root


def tls_server(pki, data_dir, *args: str) -> ServerProcess:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    return ServerProcess(data_dir, [
        "--tls-cert", str(pki / "cert.pem"), "--tls-key", str(pki / "key.pem"),
        "--credentials-file", str(pki / "credentials"), *args,
    ], tls=context).start()


def client(url: str, pki):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, verify=str(pki / "ca.pem"),
                        config=Config(retries={"max_attempts": 1}))


def test_clients_and_followers_speak_tls(pki, tmp_path):
    leader = tls_server(pki, tmp_path / "leader")
    followers = []
    try:
        assert leader.url.startswith("https://")
        client(leader.url, pki).create_table(TableName="secret", **HASH_TABLE)
        client(leader.url, pki).put_item(TableName="secret", Item={"pk": {"S": "over-tls"}})
        follower = tls_server(pki, tmp_path / "follower", "--role", "follower", "--leader", leader.url,
                              "--tls-ca", str(pki / "ca.pem"))
        followers.append(follower)
        wait_for(lambda: _has_item(follower, pki))
        assert "bootstrapping" in follower.log_path.read_text()
        # A follower that does not trust the CA refuses the leader's certificate.
        doubter = tls_server(pki, tmp_path / f"doubter-{uuid.uuid4().hex[:6]}", "--role", "follower",
                             "--leader", leader.url)
        followers.append(doubter)
        wait_for(lambda: "certificate" in (_status(doubter, pki)["last_error"] or "").lower())
        assert _status(doubter, pki)["connected"] == 0
    finally:
        for node in followers:
            node.stop()
        leader.stop()


def _has_item(node: ServerProcess, pki) -> bool:
    """A follower still bootstrapping answers that the table does not exist yet."""
    reader = client(node.url, pki)
    try:
        return "Item" in reader.get_item(TableName="secret", Key={"pk": {"S": "over-tls"}})
    except reader.exceptions.ResourceNotFoundException:
        return False


def _status(node: ServerProcess, pki) -> dict:
    url = node.url + "/replication/status"
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    request = urllib.request.Request(url, headers=SIGNER.sign("GET", url).headers)
    with urllib.request.urlopen(request, timeout=10, context=context) as reply:
        return orjson.loads(reply.read())

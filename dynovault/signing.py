"""SigV4 for the requests nodes send each other (replication stream and checkpoint, admin
calls, ``dynovault promote``) and the proof by which the answering node shows it holds the
same credentials.

A cluster shares one credentials file: a node signs with a key from it exactly as an SDK
signs a DynamoDB call, and the receiving node verifies that signature like any other. The
answer carries ``proof``, an HMAC of the request's signature under the same derived
signing key, which only a node that knows the secret can compute: a follower thereby
knows that the leader it streams from, or bootstraps from, is one of its own cluster and
not whoever answered at that address.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "dynamodb"
TERMINATOR = "aws4_request"
PROOF_HEADER = "X-Dynovault-Proof"
# Where a verified request keeps who signed it and the proof its answer carries.
PEER_KEY_ID = "dynovault.peer_key_id"
PEER_PROOF = "dynovault.peer_proof"
_PROOF_CONTEXT = b"dynovault peer proof\n"


@lru_cache(maxsize=1024)
def signing_key(secret: str, scope_date: str, region: str) -> bytes:
    """SigV4's derived key: four HMACs that change once a day per key and region."""
    key = f"AWS4{secret}".encode()
    for part in (scope_date, region, SERVICE, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def proof(key: bytes, request_signature: str) -> str:
    return hmac.new(key, _PROOF_CONTEXT + request_signature.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedHeaders:
    """The headers to send, and what the answer's proof must be."""

    headers: dict[str, str]
    expected_proof: str

    def proven_by(self, answer_proof: object) -> bool:
        return isinstance(answer_proof, str) and hmac.compare_digest(
            answer_proof.encode(), self.expected_proof.encode()
        )


@dataclass(frozen=True)
class PeerCredentials:
    """The key pair a node signs its own requests with."""

    key_id: str
    secret: str
    region: str = "us-east-1"

    def sign(self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> SignedHeaders:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        SigV4Auth(Credentials(self.key_id, self.secret), SERVICE, self.region).add_auth(request)
        signed = dict(request.headers.items())
        signature = signed["Authorization"].rpartition("Signature=")[2]
        scope_date = signed["X-Amz-Date"][:8]
        return SignedHeaders(signed, proof(signing_key(self.secret, scope_date, self.region), signature))


def first_credentials(secrets: dict[str, str], region: str, key_id: str | None = None) -> PeerCredentials:
    """The key a node signs with: ``key_id`` when named, else the file's first."""
    if key_id is None:
        key_id = next(iter(secrets))
    if key_id not in secrets:
        raise ValueError(f"no key {key_id!r} in the credentials file")
    return PeerCredentials(key_id, secrets[key_id], region)


def load_credentials(path: Path) -> dict[str, str]:
    """``ACCESS_KEY_ID SECRET_ACCESS_KEY`` per line; blank lines and lines starting with
    ``#`` are ignored (a secret may itself contain ``#``)."""
    secrets: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected 'ACCESS_KEY_ID SECRET_ACCESS_KEY'")
        secrets[fields[0]] = fields[1]
    if not secrets:
        raise ValueError(f"{path}: no credentials found")
    return secrets

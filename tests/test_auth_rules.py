"""SigV4 rules as DynamoDB applies them, against a server started with
``--credentials-file``: each forged or tampered request is refused with DynamoDB's code and
wording, and beside each one the same request, correctly signed, succeeds."""

from __future__ import annotations

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from dynovault.testing.processes import ServerProcess
from tests.rawhttp import TARGET_PREFIX, RawClient

KEY, SECRET = "AKIDRULES", "rules/secret"
OTHER_KEY, OTHER_SECRET = "AKIDOTHER", "other+secret"
TABLE = "rules"
KEY_OF_ITEM = {"pk": {"S": "kept"}}


@pytest.fixture(scope="module")
def verifying_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("auth-rules")
    credentials = directory / "credentials"
    credentials.write_text(f"{KEY} {SECRET}\n{OTHER_KEY} {OTHER_SECRET}\n")
    proc = ServerProcess(directory / "data", extra_args=["--credentials-file", str(credentials)]).start()
    raw = RawClient(proc.url, KEY, SECRET)
    created = raw.call("CreateTable", {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    })
    assert created.status == 200, created.body
    yield proc
    proc.stop()


@pytest.fixture
def raw(verifying_server):
    client = RawClient(verifying_server.url, KEY, SECRET)
    assert client.call("PutItem", {"TableName": TABLE, "Item": {**KEY_OF_ITEM, "v": {"N": "1"}}}).status == 200
    yield client
    client.close()


def signed(raw: RawClient, body: bytes, headers: dict[str, str], region: str = "us-east-1") -> dict[str, str]:
    """Headers botocore's signer produces for exactly ``headers`` (plus Host and date)."""
    request = AWSRequest(method="POST", url=raw.url, data=body, headers=headers)
    SigV4Auth(raw.credentials, "dynamodb", region).add_auth(request)
    return dict(request.headers.items())


def item_exists(raw: RawClient) -> bool:
    reply = raw.call("GetItem", {"TableName": TABLE, "Key": KEY_OF_ITEM, "ConsistentRead": True})
    assert reply.status == 200, reply.body
    return "Item" in reply.json()


def refusal(reply) -> tuple[str, str]:
    assert reply.status == 400, reply.body
    return reply.error_code, reply.json()["message"]


KEY_BODY = orjson.dumps({"TableName": TABLE, "Key": KEY_OF_ITEM})


# ---- X-Amz-Target and every X-Amz-* header must be signed -------------------------------


def test_operation_changed_in_transit_is_refused(raw):
    """Signed over host and date only, a GetItem rewritten to DeleteItem must not run."""
    headers = signed(raw, KEY_BODY, {"Content-Type": "application/x-amz-json-1.0"})
    assert "x-amz-target" not in headers["Authorization"]
    headers["X-Amz-Target"] = TARGET_PREFIX + "DeleteItem"
    reply = raw.post(KEY_BODY, target=None, headers=headers, sign=False)
    assert refusal(reply) == (
        "InvalidSignatureException",
        "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
    )
    assert item_exists(raw)


def test_signed_operation_runs(raw):
    headers = signed(raw, KEY_BODY, {"X-Amz-Target": TARGET_PREFIX + "DeleteItem"})
    assert raw.post(KEY_BODY, target=None, headers=headers, sign=False).status == 200
    assert not item_exists(raw)


def test_unsigned_amz_header_is_refused(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    headers["X-Amz-Security-Token"] = "added-in-transit"
    assert refusal(raw.post(b"{}", target=None, headers=headers, sign=False)) == (
        "InvalidSignatureException",
        "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.",
    )


def test_signed_amz_header_is_accepted(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables",
                                  "X-Amz-Security-Token": "signed-token"})
    assert raw.post(b"{}", target=None, headers=headers, sign=False).status == 200


def _without_signed(headers: dict[str, str], name: str) -> dict[str, str]:
    """The same Authorization header with ``name`` struck from SignedHeaders."""
    authorization = headers["Authorization"]
    prefix, _, rest = authorization.partition("SignedHeaders=")
    names, _, suffix = rest.partition(",")
    kept = ";".join(part for part in names.split(";") if part != name)
    return {**headers, "Authorization": f"{prefix}SignedHeaders={kept},{suffix}"}


@pytest.mark.parametrize(("name", "message"), [
    ("host", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    ("x-amz-date", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."),
])
def test_host_and_date_must_be_signed(raw, name, message):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    reply = raw.post(b"{}", target=None, headers=_without_signed(headers, name), sign=False)
    assert refusal(reply) == ("InvalidSignatureException", message)


def test_signed_header_changed_after_signing_is_refused(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables",
                                  "Content-Type": "application/x-amz-json-1.0"})
    headers["Content-Type"] = "application/x-amz-json-1.1"
    code, message = refusal(raw.post(b"{}", target=None, headers=headers, sign=False))
    assert code == "InvalidSignatureException"
    assert message.startswith("The request signature we calculated does not match")


# ---- duplicates are refused, not resolved ---------------------------------------------


def test_second_authorization_header_is_refused(raw):
    good = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    forged = good["Authorization"].rpartition("Signature=")[0] + "Signature=" + "0" * 64
    reply = raw.post_header_lines(b"{}", [*good.items(), ("Authorization", forged)])
    assert refusal(reply) == (
        "IncompleteSignatureException",
        "The request must not carry more than one 'Authorization' header.",
    )
    assert raw.post_header_lines(b"{}", list(good.items())).status == 200


@pytest.mark.parametrize("part", ["Signature", "Credential", "SignedHeaders"])
def test_repeated_authorization_parameter_is_refused(raw, part):
    good = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    authorization = good["Authorization"]
    value = authorization.partition(f"{part}=")[2].partition(",")[0]
    decoy = {"Signature": "0" * 64, "Credential": f"{OTHER_KEY}/x/y/z/w", "SignedHeaders": "host"}[part]
    # The decoy first and the genuine value last: "last wins" would accept it.
    repeated = authorization.replace(f"{part}={value}", f"{part}={decoy}, {part}={value}")
    reply = raw.post(b"{}", target=None, headers={**good, "Authorization": repeated}, sign=False)
    assert refusal(reply) == (
        "IncompleteSignatureException",
        f"'{part}' appears more than once in Authorization header: '{repeated}'.",
    )
    assert raw.post(b"{}", target=None, headers=good, sign=False).status == 200


def test_second_target_header_is_refused(raw):
    good = signed(raw, KEY_BODY, {"X-Amz-Target": TARGET_PREFIX + "GetItem"})
    reply = raw.post_header_lines(KEY_BODY, [*good.items(), ("X-Amz-Target", TARGET_PREFIX + "DeleteItem")])
    assert refusal(reply) == (
        "IncompleteSignatureException",
        "The request must not carry more than one 'X-Amz-Target' header.",
    )
    assert item_exists(raw)


# ---- scope and date ------------------------------------------------------------------


def _rescoped(headers: dict[str, str], index: int, value: str) -> dict[str, str]:
    authorization = headers["Authorization"]
    credential = authorization.partition("Credential=")[2].partition(",")[0]
    parts = credential.split("/")
    parts[index] = value
    return {**headers, "Authorization": authorization.replace(credential, "/".join(parts))}


def test_scope_date_other_than_the_request_date_is_refused(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    request_date = headers["X-Amz-Date"]
    reply = raw.post(b"{}", target=None, headers=_rescoped(headers, 1, "20200101"), sign=False)
    assert refusal(reply) == (
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'20200101' != '{request_date[:8]}', from '{request_date}'.",
    )


def test_scope_with_a_bad_terminator_is_refused(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    reply = raw.post(b"{}", target=None, headers=_rescoped(headers, 4, "aws5_request"), sign=False)
    assert refusal(reply) == (
        "InvalidSignatureException",
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
    )


def test_malformed_request_date_is_refused(raw):
    headers = signed(raw, b"{}", {"X-Amz-Target": TARGET_PREFIX + "ListTables"})
    reply = raw.post(b"{}", target=None, headers={**headers, "X-Amz-Date": "2024-01-01T00:00:00Z"}, sign=False)
    assert refusal(reply) == (
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def test_presigned_query_is_not_authentication(verifying_server):
    """A signature in the query string (presigned URL) is not looked at: the request has no
    Authorization header, and DynamoDB answers so."""
    raw = RawClient(verifying_server.url, KEY, SECRET)
    query = ("/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDRULES%2F20240101%2Fus-east-1"
             "%2Fdynamodb%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=" + "0" * 64)
    connection = raw._connection()
    connection.request("POST", query, body=b"{}", headers={
        "Host": raw.netloc, "X-Amz-Target": TARGET_PREFIX + "ListTables",
        "Content-Type": "application/x-amz-json-1.0"})
    reply = raw._reply(connection)
    assert refusal(reply) == ("MissingAuthenticationTokenException", "Request is missing Authentication Token")

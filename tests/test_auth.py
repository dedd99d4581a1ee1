"""SigV4 authentication, as clients meet it: unmodified boto3 with right and wrong
credentials against a server started with ``--credentials-file``, and the permissive
default mode of the shared test server."""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import subprocess

import boto3
import botocore.auth
import pytest
from aiobotocore.session import get_session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from dynovault.testing.processes import ServerProcess
from tests.rawhttp import RawClient

KEYS = {"AKIDPRIMARY": "primary/secret+key", "AKIDSECOND": "second#secret"}
SCOPE = "k/20240101/us-east-1/dynamodb/aws4_request"
_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


@pytest.fixture(scope="module")
def verifying_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("auth")
    credentials = directory / "credentials"
    credentials.write_text(
        "# access key id, secret\n\n" + "".join(f"{key} {secret}\n" for key, secret in KEYS.items())
    )
    proc = ServerProcess(directory / "data", extra_args=["--credentials-file", str(credentials)]).start()
    yield proc
    proc.stop()


def client(url: str, key: str, secret: str, region: str = "us-east-1"):
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=_CONFIG,
    )


def refusal(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_configured_key_is_accepted(verifying_server, key):
    ddb = client(verifying_server.url, key, KEYS[key])
    assert ddb.list_tables()["TableNames"] == []


def test_signature_scoped_to_another_region_is_refused(verifying_server):
    """The server's --region (us-east-1 by default) is the only scope it accepts, as a
    DynamoDB endpoint accepts only its own region."""
    ddb = client(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"], region="eu-west-1")
    assert refusal(ddb.list_tables) == (
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
    )


def test_session_tokens_are_covered_by_the_signature(verifying_server):
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=verifying_server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDPRIMARY",
        aws_secret_access_key=KEYS["AKIDPRIMARY"],
        aws_session_token="session-token",
        config=_CONFIG,
    )
    assert "TableNames" in ddb.list_tables()


def test_signed_writes_and_reads_work(verifying_server):
    ddb = client(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    ddb.create_table(
        TableName="signed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="signed", Item={"pk": {"S": "a/b c"}, "v": {"S": "é" * 100}})
    assert ddb.get_item(TableName="signed", Key={"pk": {"S": "a/b c"}})["Item"]["v"] == {"S": "é" * 100}


def test_aiobotocore_signatures_verify(verifying_server):
    async def scenario() -> tuple[list[str], str]:
        session = get_session()
        arguments = {"endpoint_url": verifying_server.url, "region_name": "us-east-1", "config": _CONFIG}
        async with session.create_client(
            "dynamodb", aws_access_key_id="AKIDSECOND", aws_secret_access_key=KEYS["AKIDSECOND"], **arguments
        ) as right:
            names = (await right.list_tables())["TableNames"]
        async with session.create_client(
            "dynamodb", aws_access_key_id="AKIDSECOND", aws_secret_access_key="wrong", **arguments
        ) as wrong:
            try:
                await wrong.list_tables()
            except ClientError as error:
                return names, error.response["Error"]["Code"]
        raise AssertionError("a wrong secret was accepted")

    names, code = asyncio.run(scenario())
    assert isinstance(names, list)
    assert code == "InvalidSignatureException"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws cli is not installed")
def test_aws_cli_signatures_verify(verifying_server, tmp_path):
    def list_tables(secret: str) -> subprocess.CompletedProcess:
        environment = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "AKIDPRIMARY",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }
        command = ["aws", "dynamodb", "list-tables", "--endpoint-url", verifying_server.url, "--output", "json"]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)

    right = list_tables(KEYS["AKIDPRIMARY"])
    assert right.returncode == 0, right.stderr
    assert "TableNames" in right.stdout
    wrong = list_tables("wrong")
    assert wrong.returncode != 0
    assert "InvalidSignatureException" in wrong.stderr


def test_wrong_secret_is_an_invalid_signature(verifying_server):
    ddb = client(verifying_server.url, "AKIDPRIMARY", "not-the-secret")
    code, message = refusal(ddb.list_tables)
    assert code == "InvalidSignatureException"
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )
    assert "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message


def test_unknown_key_is_an_unrecognized_client(verifying_server):
    ddb = client(verifying_server.url, "AKIDUNKNOWN", KEYS["AKIDPRIMARY"])
    assert refusal(ddb.list_tables) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_missing_authorization_is_a_missing_token(verifying_server):
    reply = RawClient(verifying_server.url).post(b"{}", sign=False)
    assert reply.status == 400
    assert reply.json() == {
        "__type": "com.amazonaws.dynamodb.v20120810#MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }


@pytest.mark.parametrize(
    ("body", "target", "code"),
    [
        (b"{", "DynamoDB_20120810.ListTables", "SerializationException"),
        (b"{}", "DynamoDB_20120810.Fly", "UnknownOperationException"),
        (b"{}", "DynamoDB_20120810.ListTables", "MissingAuthenticationTokenException"),
    ],
)
def test_default_mode_parses_and_routes_before_the_signature(server, body, target, code):
    """DynamoDB's order: a request is parsed and routed before its signature is looked at."""
    reply = RawClient(server.url).post(body, target=target, sign=False)
    assert (reply.status, reply.error_code) == (400, code)


@pytest.mark.parametrize(
    ("body", "target"),
    [(b"{", "DynamoDB_20120810.ListTables"), (b"{}", "DynamoDB_20120810.Fly")],
)
def test_verified_signature_headers_are_checked_before_the_body(verifying_server, body, target):
    """With credentials an unsigned request is refused before its body is read or
    parsed; signed, the same request gets the body's own refusal."""
    raw = RawClient(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    unsigned = raw.post(body, target=target, sign=False)
    assert (unsigned.status, unsigned.error_code) == (400, "MissingAuthenticationTokenException")
    signed = raw.post(body, target=target)
    assert signed.error_code in ("SerializationException", "UnknownOperationException")


def test_body_changed_after_signing_is_refused(verifying_server):
    raw = RawClient(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    headers = raw.signed_headers(b'{"Limit": 1}', {"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    reply = raw.post(b'{"Limit": 2}', headers=headers, sign=False)
    assert (reply.status, reply.error_code) == (400, "InvalidSignatureException")


def test_signature_for_another_service_is_refused(verifying_server):
    raw = RawClient(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    request = AWSRequest(
        method="POST", url=raw.url, data=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"}
    )
    botocore.auth.SigV4Auth(raw.credentials, "dynamo", "us-east-1").add_auth(request)
    reply = raw.post(b"{}", headers=dict(request.headers.items()), sign=False)
    assert reply.error_code == "InvalidSignatureException"
    assert reply.json()["message"] == "Credential should be scoped to correct service: 'dynamodb'."


@pytest.mark.parametrize(
    ("offset", "wording"),
    [
        (-10, "Signature expired: {signed} is now earlier than "),
        (10, "Signature not yet current: {signed} is still later than "),
    ],
)
def test_requests_signed_too_far_from_now_are_refused(verifying_server, monkeypatch, offset, wording):
    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(minutes=offset)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    ddb = client(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    code, message = refusal(ddb.list_tables)
    assert code == "InvalidSignatureException"
    assert message.startswith(wording.format(signed=skewed.strftime("%Y%m%dT%H%M%SZ")))
    assert message.endswith(" 5 min.)")


def test_a_slightly_skewed_clock_is_tolerated(verifying_server, monkeypatch):
    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=3)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    ddb = client(verifying_server.url, "AKIDSECOND", KEYS["AKIDSECOND"])
    assert "TableNames" in ddb.list_tables()


def test_default_mode_accepts_any_credentials(server):
    ddb = client(server.url, "ANYTHING", "goes", region="ap-south-1")
    assert "TableNames" in ddb.list_tables()


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "MissingAuthenticationTokenException", "Request is missing Authentication Token"),
        ("Bearer abc", "MissingAuthenticationTokenException", "Request is missing Authentication Token"),
        (
            "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/dynamodb/aws4_request",
            "IncompleteSignatureException",
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/dynamodb/aws4_request",
        ),
        (
            f"AWS4-HMAC-SHA1 Credential={SCOPE}, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1' (only AWS4-HMAC-SHA256 for now). ",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=k/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            "got 'k/us-east-1/dynamodb/aws4_request'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
            "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: "
            "'AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=00'.",
        ),
    ],
)
def test_default_mode_still_requires_a_well_formed_signature(server, authorization, code, message):
    headers = {"X-Amz-Date": "20240101T000000Z"}
    if authorization is not None:
        headers["Authorization"] = authorization
    reply = RawClient(server.url).post(b"{}", headers=headers, sign=False)
    assert reply.status == 400
    assert (reply.error_code, reply.json()["message"]) == (code, message)


def test_default_mode_requires_a_request_date(server):
    authorization = f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host, Signature=00"
    reply = RawClient(server.url).post(b"{}", headers={"Authorization": authorization}, sign=False)
    assert reply.error_code == "IncompleteSignatureException"
    assert reply.json()["message"] == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={authorization}"
    )


def test_unreadable_credentials_file_stops_the_server(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("only-a-key-id\n")
    with pytest.raises(RuntimeError, match="expected 'ACCESS_KEY_ID SECRET_ACCESS_KEY'"):
        ServerProcess(tmp_path / "data", extra_args=["--credentials-file", str(credentials)]).start()

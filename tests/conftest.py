from __future__ import annotations

import itertools
import os
import re

import boto3
import pytest
from botocore.config import Config

from dynovault.testing.processes import ServerProcess
from tests.rawhttp import RawClient

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

_CLIENT_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


def client_for(url: str):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=_CLIENT_CONFIG)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One real server process shared by the session's tests."""
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def ddb(server):
    return client_for(server.url)


@pytest.fixture(scope="session")
def ddb_resource(server):
    return boto3.resource("dynamodb", endpoint_url=server.url, region_name="us-east-1", config=_CLIENT_CONFIG)


_names = itertools.count()


@pytest.fixture
def table_name(request):
    """A fresh, unique table name per test."""
    return f"t{next(_names)}-" + re.sub(r"[^a-zA-Z0-9_.-]", "_", request.node.name[:40])


def create_hash_table(ddb, name: str) -> str:
    """Create an on-demand table keyed by a string ``pk``."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def hash_table(ddb, table_name):
    """A table keyed by a string ``pk``."""
    return create_hash_table(ddb, table_name)


@pytest.fixture
def range_table(ddb, table_name):
    """A table keyed by string ``pk`` and number ``sk`` (named apart from ``hash_table``)."""
    table_name = f"{table_name}-range"
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return table_name


@pytest.fixture(scope="module")
def raw(server):
    """A raw HTTP client of the shared server, for what boto3 never sends."""
    client = RawClient(server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def unchecked(server):
    """boto3 without its client-side parameter checks, so the server's own checks answer."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1})
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", config=config)

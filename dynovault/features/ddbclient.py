"""A lean DynamoDB JSON client for bulk work: SigV4 from botocore, transport from urllib3.

boto3 spends more CPU shaping each BatchGetItem/BatchWriteItem than the server spends
answering it; a batch ingest makes tens of thousands of such calls, so it sends the wire
JSON itself. Works against Dynovault or any DynamoDB endpoint.
"""

from __future__ import annotations

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session

TARGET_PREFIX = "DynamoDB_20120810."


class DynamoCallError(RuntimeError):
    def __init__(self, operation: str, status: int, body: dict) -> None:
        self.code = str(body.get("__type", "")).rpartition("#")[2]
        super().__init__(f"{operation} failed ({status} {self.code}): {body.get('message') or body.get('Message')}")


class DynamoClient:
    def __init__(self, endpoint: str, region: str = "us-east-1", pool_size: int = 16) -> None:
        self.endpoint = endpoint.rstrip("/") + "/"
        credentials = get_session().get_credentials() or Credentials("dynovault", "dynovault")
        self._signer = SigV4Auth(credentials, "dynamodb", region)
        self._http = urllib3.PoolManager(maxsize=pool_size, retries=urllib3.Retry(connect=3, read=0, redirect=0))

    def call(self, operation: str, payload: dict) -> dict:
        body = orjson.dumps(payload)
        request = AWSRequest(
            method="POST",
            url=self.endpoint,
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET_PREFIX + operation},
        )
        self._signer.add_auth(request)
        reply = self._http.request("POST", self.endpoint, body=body, headers=dict(request.headers))
        answer = orjson.loads(reply.data) if reply.data else {}
        if reply.status != 200:
            raise DynamoCallError(operation, reply.status, answer)
        return answer

    def batch_get(self, table: str, ids: list[str], attributes: list[str] | None = None) -> dict[str, dict]:
        """Items by ``entity_id`` (at most 100 ids), only ``attributes`` of them when
        given, following UnprocessedKeys."""
        found: dict[str, dict] = {}
        spec: dict = {"Keys": [{"entity_id": {"S": i}} for i in ids]}
        if attributes:
            names = {f"#a{n}": name for n, name in enumerate(["entity_id", *attributes])}
            spec["ProjectionExpression"] = ", ".join(names)
            spec["ExpressionAttributeNames"] = names
        request = {table: spec}
        while request:
            answer = self.call("BatchGetItem", {"RequestItems": request})
            for item in answer.get("Responses", {}).get(table, []):
                found[item["entity_id"]["S"]] = item
            request = answer.get("UnprocessedKeys") or {}
        return found

    def batch_put(self, table: str, items: list[dict]) -> None:
        """Put at most 25 items, following UnprocessedItems."""
        request = {table: [{"PutRequest": {"Item": item}} for item in items]}
        while request:
            request = self.call("BatchWriteItem", {"RequestItems": request}).get("UnprocessedItems") or {}

    def ensure_feast_table(self, table: str) -> None:
        """Create the table with Feast's key schema unless it exists."""
        self.ensure_table({
            "TableName": table,
            "KeySchema": [{"AttributeName": "entity_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "entity_id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })

    def ensure_table(self, definition: dict) -> None:
        """Create a table from a CreateTable request unless one of its name exists."""
        try:
            self.call("DescribeTable", {"TableName": definition["TableName"]})
        except DynamoCallError as error:
            if error.code != "ResourceNotFoundException":
                raise
            self.call("CreateTable", definition)

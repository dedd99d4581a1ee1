"""TagResource: a tag given again replaces the value under its key; the answer is empty."""

from __future__ import annotations

from dynovault.api.tagging import save_tags, tagged_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> bytes:
    table = tagged_table(node, request["ResourceArn"])
    tags = {t["Key"]: t["Value"] for t in table.description.get("Tags", [])}
    tags.update({t["Key"]: t["Value"] for t in request["Tags"]})
    save_tags(node, table, [{"Key": k, "Value": v} for k, v in tags.items()])
    # DynamoDB answers with an empty body.
    return b""

"""ListTagsOfResource: at most 50 tags exist, so one page always holds them all."""

from __future__ import annotations

from dynovault.api.tagging import tagged_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"Tags": tagged_table(node, request["ResourceArn"]).description.get("Tags", [])}

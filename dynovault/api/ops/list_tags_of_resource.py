"""ListTagsOfResource: at most 50 tags exist, so one page always holds them all."""

from __future__ import annotations

from dynovault.api.tagging import tagged_table
from dynovault.errors import AccessDeniedException, ResourceNotFoundException
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    arn = request["ResourceArn"]
    try:
        table = tagged_table(node, arn)
    except ResourceNotFoundException:
        # DynamoDB authorizes against the table's resource policy first, and a table that
        # does not exist has none: the caller is denied rather than told it is missing.
        raise AccessDeniedException(
            f"User: arn:aws:iam::{node.account_id}:root is not authorized to perform: "
            f"dynamodb:ListTagsOfResource on resource: {arn}"
        ) from None
    return {"Tags": table.description.get("Tags", [])}

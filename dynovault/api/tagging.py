"""Tags live in the table's catalog entry, so they replicate with it."""

from __future__ import annotations

from dynovault.errors import ResourceNotFoundException, ValidationException
from dynovault.node import Node
from dynovault.storage.engine import Table

MAX_TAGS = 50


def tagged_table(node: Node, arn: str) -> Table:
    prefix = f"arn:aws:dynamodb:{node.region}:{node.account_id}:table/"
    if not arn.startswith("arn:") or ":table/" not in arn:
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    name = arn.removeprefix(prefix)
    table = node.store.tables.get(name) if arn.startswith(prefix) else None
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: ResourcArn: {arn} not found")
    return table


def save_tags(node: Node, table: Table, tags: list[dict]) -> None:
    if len(tags) > MAX_TAGS:
        raise ValidationException("One or more parameter values were invalid: Too many tags")
    node.store.put_table({**table.description, "Tags": tags})

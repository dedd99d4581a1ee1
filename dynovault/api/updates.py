"""What an Update computes, in UpdateItem and in a transaction alike: the new item an
update expression makes of the stored one, refused as DynamoDB refuses it."""

from __future__ import annotations

import orjson

from dynovault.api.request_expressions import RequestExpressions
from dynovault.errors import invalid
from dynovault.expressions import UpdateExpression
from dynovault.expressions.nodes import (
    LEGACY_WRONG_TYPE,
    WRONG_OPERAND_TYPE,
    DeleteAction,
    RemoveAction,
)
from dynovault.expressions.update import apply_actions
from dynovault.items import check_index_keys_of, check_item_size
from dynovault.storage.engine import Table, stored_json
from dynovault.values.attributes import Item, canonical_item


def refuse_key_updates(table: Table, update: UpdateExpression | None) -> None:
    if update is None:
        return
    keys = table.schema.names
    for action in update.actions:
        if action.path[0] in keys:
            raise invalid(f"Cannot update attribute {action.path[0]}. This attribute is part of the key")


def stored_item(stored: bytes | None) -> Item | None:
    return orjson.loads(stored_json(stored)) if stored is not None else None


def updated_item(
    table: Table, key: Item, stored: bytes | None, expressions: RequestExpressions
) -> tuple[Item, int]:
    """The item (and its size) the request's update makes of the stored one, or of its
    key alone when none is stored."""
    update = expressions.update
    old = stored_item(stored)
    new = stored_item(stored) if stored is not None else dict(key)
    if update is not None:
        wrong_type = LEGACY_WRONG_TYPE if expressions.legacy_update else WRONG_OPERAND_TYPE
        apply_actions(update.actions, old or {}, new, expressions.values, wrong_type)
    new, size = canonical_item(new)
    check_item_size(size, "Item size to update has exceeded the maximum allowed size")
    check_index_keys_of(table, new, by_update=True)
    return new, size


def creates_nothing(stored: bytes | None, update: UpdateExpression | None) -> bool:
    """An update made only of REMOVE and DELETE actions of an item that is not there
    creates no item (an empty update still writes)."""
    return stored is None and update is not None and bool(update.actions) and all(
        isinstance(action, (RemoveAction, DeleteAction)) for action in update.actions
    )

"""Applying an update's actions to an item, with DynamoDB's semantics: every SET value
is computed from the item as it was, ADD and DELETE merge numbers and sets, and REMOVEs
of list elements address the positions the list had before the update."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.expressions import nodes
from dynovault.expressions.paths import (
    Item,
    Path,
    get_path,
    remove_path,
    require_parent,
    set_path,
)
from dynovault.expressions.semantics import add_numbers
from dynovault.values.types import SET_TAGS


def apply_actions(
    actions: tuple, old: Item, new: Item, values: nodes.Values, wrong_type: str = nodes.WRONG_OPERAND_TYPE
) -> None:
    """Change ``new`` (a copy of ``old``) in place; ``wrong_type`` is the refusal of an
    ADD or DELETE whose operand's type differs from the attribute's (legacy
    AttributeUpdates word it differently from UpdateExpressions)."""
    computed = []
    for action in actions:
        if isinstance(action, nodes.SetAction):
            value = action.value.resolve(old, values)
            if value is None:
                raise ValidationException(nodes.MISSING_ATTRIBUTE)
            computed.append((action.path, value))
    for path, value in computed:
        set_path(new, path, value)
    for action in actions:
        if isinstance(action, nodes.AddAction):
            _add(new, action.path, action.value.resolve(old, values), wrong_type)
        elif isinstance(action, nodes.DeleteAction):
            _delete(new, action.path, action.value.resolve(old, values), wrong_type)
    removals = sorted((a.path for a in actions if isinstance(a, nodes.RemoveAction)), reverse=True)
    for path in removals:
        remove_path(new, path)


def _add(item: Item, path: Path, operand: dict, wrong_type: str) -> None:
    current = get_path(item, path)
    if current is None:
        set_path(item, path, operand)
        return
    (tag,) = operand
    if tag not in current:
        raise ValidationException(wrong_type)
    if tag == "N":
        set_path(item, path, add_numbers(current["N"], operand["N"]))
    elif tag in SET_TAGS:
        present = set(current[tag])
        set_path(item, path, {tag: current[tag] + [m for m in operand[tag] if m not in present]})
    elif tag == "L":
        set_path(item, path, {"L": current["L"] + operand["L"]})
    else:
        raise ValidationException(wrong_type)


def _delete(item: Item, path: Path, operand: dict, wrong_type: str) -> None:
    current = get_path(item, path)
    if current is None:
        require_parent(item, path)
        return
    (tag,) = operand
    if tag not in current or tag not in SET_TAGS:
        raise ValidationException(wrong_type)
    removed = set(operand[tag])
    remaining = [m for m in current[tag] if m not in removed]
    if remaining:
        set_path(item, path, {tag: remaining})
    else:
        remove_path(item, path)


"""Values of a statement made concrete: literals and ``?`` parameters in wire form."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.partiql import nodes

SET_TAGS = {"S": "SS", "N": "NS", "B": "BS"}


def bind(value: nodes.Value, parameters: list[dict]) -> dict:
    """The wire-form attribute value ``value`` stands for with these parameters."""
    if isinstance(value, nodes.Constant):
        return value.value
    if isinstance(value, nodes.Parameter):
        return parameters[value.index]
    if isinstance(value, nodes.TupleValue):
        return {"M": {name: bind(member, parameters) for name, member in value.members}}
    if isinstance(value, nodes.ListValue):
        return {"L": [bind(element, parameters) for element in value.elements]}
    return _bound_set(value, parameters)


def _bound_set(value: nodes.SetValue, parameters: list[dict]) -> dict:
    members = [bind(element, parameters) for element in value.elements]
    tags = {tag for member in members for tag in member}
    if len(tags) > 1 or not tags <= set(SET_TAGS):
        raise ValidationException("Unsupported data type in Bag")
    tag = tags.pop() if tags else "S"
    return {SET_TAGS[tag]: [member[tag] for member in members]}

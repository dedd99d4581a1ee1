"""SearchVectors: the TopK items nearest a vector in one partition of a vector index,
best first by the index's distance function, with their projected attributes.

The SearchConditionExpression names the partition (an equality on every HASH
search-schema attribute, joined by AND) and may filter on the INLINE_FILTER attributes
with comparisons, BETWEEN and IN, combined freely; the filter is applied during the
search, so TopK results come back whenever that many items pass it.
"""

from __future__ import annotations

import numpy as np

from dynovault.api.request_expressions import SEARCH, parse_expressions
from dynovault.errors import ValidationException
from dynovault.expressions import nodes
from dynovault.expressions.compiled import ConditionExpression
from dynovault.indexes import VECTOR
from dynovault.node import Node
from dynovault.storage.engine import Table
from dynovault.storage.vectors import F32_MAX, LiveVectorIndex, VectorLayout, float32_text
from dynovault.vectors import MAX_TOP_K

_INVALID_COMPARATOR = "Invalid SearchConditionExpression: Invalid comparator used in SearchConditionExpression"
_FILTERS = (nodes.Comparison, nodes.Between, nodes.In, nodes.And, nodes.Or, nodes.Not)
# The least a search is charged, as DynamoDB charges writes to a vector index.
_MIN_REQUEST_BYTES = 1024


async def handle(request: dict, node: Node) -> dict:
    top_k = request["TopK"]
    if top_k > MAX_TOP_K:
        raise ValidationException(
            f"Provided TopK value '{top_k}' is out of valid range. The value must be between 1 and {MAX_TOP_K} inclusive"
        )
    table = node.table(request["TableName"])
    index = _searchable(table, request["IndexName"])
    layout = index.layout
    query = _query_vector(request["SearchVector"], layout.dimensions)
    expressions = parse_expressions(request, SEARCH)
    partition, condition = _partition_and_filter(expressions.filter, layout, expressions.values)
    accept = None if condition is None else (lambda item: condition.test(item, expressions.values))
    found = [] if partition is None else index.space.search(partition, query, top_k, accept)
    entries = index.entries([key for _, key in found])
    results = []
    for (score, _), stored in zip(found, entries):
        vector, item = layout.decode(stored)
        if expressions.projection is not None:
            item[layout.attribute] = {"L": [{"N": float32_text(x)} for x in vector.tolist()]}
            item = expressions.projection.apply(item)
        results.append({"Item": item, "Score": score})
    answer: dict = {"SearchResults": results}
    if request.get("ReturnConsumedCapacity", "NONE") != "NONE":
        read = 4 * layout.dimensions + sum(len(stored) for stored in entries)
        answer["ConsumedCapacity"] = {"VectorSearchRequestBytes": float(max(_MIN_REQUEST_BYTES, read))}
    return answer


def _searchable(table: Table, name: str) -> LiveVectorIndex:
    """The ACTIVE vector index ``name`` of the table, or DynamoDB's refusal."""
    index = table.vector_index(name)
    if index is None:
        raise ValidationException(f"The table does not have the specified index: {name}")
    described = next(i for i in table.description[VECTOR] if i["IndexName"] == name)
    if described["IndexStatus"] != "ACTIVE":
        raise ValidationException(f"Cannot search backfilling vector index: {name}")
    return index


def _query_vector(elements: list[dict], dimensions: int) -> np.ndarray:
    """The search vector as float32, or DynamoDB's refusal of its values or its length."""
    try:
        numbers = np.array([element["N"] for element in elements if len(element) == 1], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        numbers = None
    if numbers is None or len(numbers) != len(elements) or not np.all(np.abs(numbers) <= F32_MAX):
        raise ValidationException(
            "Search vector contains invalid values. All values in the search vector must be a 32-bit "
            "floating-point number attribute"
        )
    if len(numbers) != dimensions:
        raise ValidationException(
            f"Input search vector dimension {len(numbers)} does not match vector index dimension {dimensions}"
        )
    return numbers.astype(np.float32)


def _conjuncts(tree: nodes.Condition) -> list[nodes.Condition]:
    if isinstance(tree, nodes.And):
        return _conjuncts(tree.left) + _conjuncts(tree.right)
    return [tree]


def _partition_and_filter(
    condition: ConditionExpression | None, layout: VectorLayout, values: dict
) -> tuple[bytes | None, nodes.Condition | None]:
    """The partition the condition names (None when a HASH value has another type than
    the attribute, which no item can match) and what is left of it to filter with."""
    hash_names = [name for name, _ in layout.hash_parts]
    if condition is None:
        if hash_names:
            raise ValidationException("SearchConditionExpression must be provided when SearchSchema has a HASH key")
        return layout.partition_for([]), None
    schema_names = set(hash_names) | {name for name, _ in layout.range_parts}
    for path in condition.paths:
        if path[0] not in schema_names or len(path) > 1:
            raise ValidationException(
                "SearchConditionExpression must not contain any attributes that is not in SearchSchema. "
                f"Invalid attribute: {path[0]}"
            )
    hash_values: dict[str, dict] = {}
    filters = []
    for conjunct in _conjuncts(condition.tree):
        equality = _hash_equality(conjunct, hash_names, values)
        if equality is not None:
            hash_values[equality[0]] = equality[1]
        elif _reads_only(conjunct, set(hash_names)):
            raise ValidationException(_INVALID_COMPARATOR)
        else:
            _check_filter(conjunct)
            filters.append(conjunct)
    if set(hash_values) != set(hash_names):
        raise ValidationException("SearchConditionExpression must be provided when SearchSchema has a HASH key")
    ordered = [hash_values[name] for name in hash_names]
    matching = all(tag in value for (_, tag), value in zip(layout.hash_parts, ordered))
    remainder = None
    for conjunct in filters:
        remainder = conjunct if remainder is None else nodes.And(remainder, conjunct)
    return (layout.partition_for(ordered) if matching else None), remainder


def _hash_equality(conjunct: nodes.Condition, hash_names: list[str], values: dict) -> tuple[str, dict] | None:
    """(attribute, value) when the conjunct is ``hash attribute = :value`` (either way round)."""
    if not isinstance(conjunct, nodes.Comparison) or conjunct.operator != "=":
        return None
    for path_side, value_side in ((conjunct.left, conjunct.right), (conjunct.right, conjunct.left)):
        if isinstance(path_side, nodes.PathOperand) and isinstance(value_side, nodes.ValueOperand):
            if path_side.path[0] in hash_names:
                return path_side.path[0], values[value_side.name]
    return None


def _reads_only(conjunct: nodes.Condition, names: set[str]) -> bool:
    """Whether the conjunct involves one of ``names`` (a HASH attribute outside an equality)."""
    return any(
        isinstance(operand, nodes.PathOperand) and operand.path[0] in names for operand in _operands(conjunct)
    )


def _operands(condition: nodes.Condition) -> list:
    if isinstance(condition, (nodes.And, nodes.Or)):
        return _operands(condition.left) + _operands(condition.right)
    if isinstance(condition, nodes.Not):
        return _operands(condition.operand)
    if isinstance(condition, nodes.Comparison):
        return [condition.left, condition.right]
    if isinstance(condition, nodes.Between):
        return [condition.subject, condition.low, condition.high]
    if isinstance(condition, nodes.In):
        return [condition.subject, *condition.options]
    return [getattr(condition, name) for name in getattr(condition, "__slots__", ())]


def _check_filter(condition: nodes.Condition) -> None:
    """Filters on INLINE_FILTER attributes compare attributes with values: no functions."""
    if not isinstance(condition, _FILTERS):
        raise ValidationException(_INVALID_COMPARATOR)
    for operand in _operands(condition):
        if isinstance(operand, _FILTERS):
            _check_filter(operand)
        elif not isinstance(operand, (nodes.PathOperand, nodes.ValueOperand)):
            raise ValidationException(_INVALID_COMPARATOR)

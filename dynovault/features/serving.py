"""``/get-online-features`` answered from local storage, in Feast's request/response shape.

One multi-get per feature view (keys are Feast's hashed entity ids), then each stored item
is decoded once for all requested features of that view. The response is column-oriented
exactly as Feast's feature server writes it: join keys first, then features; per column
values, statuses and event timestamps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from google.protobuf.message import DecodeError

from dynovault.features import feast_values, freshness
from dynovault.features.definitions import DefinitionError, Definitions, FeatureView
from dynovault.features.entitykey import EntityValueError
from dynovault.storage.engine import Store, Table, stored_json

log = logging.getLogger(__name__)

MAX_ENTITY_ROWS = 10_000
MAX_VALUES_PER_REQUEST = 1_000_000
EPOCH = "1970-01-01T00:00:00Z"
PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"


class FeatureRequestError(Exception):
    """A request the layer refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ViewRequest:
    view: FeatureView
    features: list[str]


def parse_request(body: bytes, definitions: Definitions) -> tuple[list[ViewRequest], dict[str, list], bool]:
    """The feature views to read (with their features, in request order), the entity
    columns and ``full_feature_names``; FeatureRequestError for anything unusable."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise FeatureRequestError(f"request body is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise FeatureRequestError("request body must be a JSON object")
    entities = request.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise FeatureRequestError("'entities' must be an object of join key -> list of values")
    if not all(isinstance(column, list) for column in entities.values()):
        raise FeatureRequestError("every entity column in 'entities' must be a list")
    return _resolve(request, definitions), entities, bool(request.get("full_feature_names", False))


def _resolve(request: dict, definitions: Definitions) -> list[ViewRequest]:
    service = request.get("feature_service")
    if service is not None:
        refs = definitions.feature_services.get(service)
        if refs is None:
            raise FeatureRequestError(f"unknown feature service {service!r}", 404)
    else:
        refs = request.get("features")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise FeatureRequestError("give 'features' (a non-empty list of 'view:feature') or 'feature_service'")
    grouped: dict[str, ViewRequest] = {}
    for ref in refs:
        try:
            view, feature = definitions.split_ref(ref)
        except DefinitionError as error:
            raise FeatureRequestError(str(error), 404) from None
        group = grouped.setdefault(view.name, ViewRequest(view, []))
        if feature not in group.features:
            group.features.append(feature)
    return list(grouped.values())


def _check_entities(views: list[ViewRequest], entities: dict[str, list], full_names: bool) -> int:
    lengths = {len(column) for column in entities.values()}
    if len(lengths) != 1:
        raise FeatureRequestError("all entity columns must have the same number of values")
    rows = lengths.pop()
    if rows > MAX_ENTITY_ROWS:
        raise FeatureRequestError(f"too many entity rows: {rows} (at most {MAX_ENTITY_ROWS})", 413)
    requested = sum(len(v.features) for v in views) * rows
    if requested > MAX_VALUES_PER_REQUEST:
        raise FeatureRequestError(
            f"request asks for {requested} values (at most {MAX_VALUES_PER_REQUEST}); split it", 413
        )
    names = [f"{v.view.name}__{f}" if full_names else f for v in views for f in v.features]
    if len(set(names)) != len(names):
        raise FeatureRequestError(
            "feature names collide; set full_feature_names to true to prefix them with their feature view"
        )
    for group in views:
        missing = [key for key in group.view.join_keys if key not in entities]
        if missing:
            raise FeatureRequestError(
                f"feature view {group.view.name!r} needs join key(s) {', '.join(missing)} in 'entities'"
            )
    return rows


def get_online_features(store: Store, definitions: Definitions, body: bytes) -> bytes:
    views, entities, full_names = parse_request(body, definitions)
    rows = _check_entities(views, entities, full_names)
    join_keys = {key for group in views for key in group.view.join_keys}
    feature_names = [key for key in entities if key in join_keys]
    results = [
        {"values": entities[key], "statuses": [PRESENT] * rows, "event_timestamps": [EPOCH] * rows}
        for key in feature_names
    ]
    now = time.time()
    for group in views:
        results.extend(_read_view(store, group, entities, rows, now))
        feature_names.extend(f"{group.view.name}__{f}" if full_names else f for f in group.features)
    return orjson.dumps({"metadata": {"feature_names": feature_names}, "results": results})


def _entity_ids(view: FeatureView, entities: dict[str, list], rows: int) -> list[str]:
    columns = [entities[key] for key in view.join_keys]
    try:
        return [view.codec.entity_id(values) for values in zip(*columns)] if rows else []
    except EntityValueError as error:
        raise FeatureRequestError(f"feature view {view.name!r}: {error}") from None


ITEM_CACHE_BYTES = 64 * 1024 * 1024


# A decoded item: (stored bytes, event timestamp as served, event epoch seconds, feature ->
# JSON-native value). A plain tuple on purpose: the garbage collector stops tracking exact
# tuples (and dicts) that hold only immutable scalars, so most of a cache of many thousands
# of items drops out of its full collections; class instances, named tuples included, stay
# tracked and every full collection walks them.
DecodedItem = tuple[bytes, str, float, dict[str, Any]]


class DecodedItems:
    """Decoded Feast items by (table, storage key), valid while the stored bytes are
    the same: parse once, serve many times. Bounded by the stored bytes it holds
    (oldest entries go first); a changed item is re-decoded on its next read."""

    def __init__(self, max_bytes: int = ITEM_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: dict[tuple[str, bytes], DecodedItem] = {}
        self._bytes = 0

    def get(self, column_family: str, key: bytes, raw: bytes) -> DecodedItem:
        slot = (column_family, key)
        cached = self._items.get(slot)
        if cached is not None and cached[0] == raw:
            return cached
        decoded = _decode_item(raw)
        if cached is not None:
            self._bytes -= len(cached[0])
        self._items[slot] = decoded
        self._bytes += len(raw)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._items))
            self._bytes -= len(self._items.pop(oldest)[0])
        return decoded


def _decode_item(raw: bytes) -> DecodedItem:
    """An item in Feast's layout; attributes that are not (values that cannot be parsed as
    a Feast Value) count as missing, so one foreign item cannot fail a whole request."""
    item = orjson.loads(stored_json(raw))
    stored = item.get("values", {}).get("M", {})
    timestamp, event_seconds = event_time(item.get("event_ts", {}).get("S", ""))
    decoded = {}
    for name, value in stored.items():
        try:
            decoded[name] = feast_values.decode_base64(value["B"])
        except (KeyError, TypeError, ValueError, DecodeError):
            log.warning("feature value not in Feast's format", extra={"feature": name})
    return raw, timestamp, event_seconds, decoded


def feast_table(store: Store, view: FeatureView) -> Table | None:
    """The view's table if it exists, checked to be keyed as Feast keys it."""
    table = store.tables.get(view.table)
    if table is not None and (table.schema.hash_name, table.schema.hash_type, table.schema.range_name) != (
        "entity_id", "S", None
    ):
        raise FeatureRequestError(
            f"table {view.table!r} of feature view {view.name!r} is not keyed like Feast's online store "
            "(a string hash key entity_id only)",
            409,
        )
    return table


DECODED_ITEMS = DecodedItems()


_ABSENT: dict[str, Any] = {}


def _read_view(store: Store, group: ViewRequest, entities: dict[str, list], rows: int, now: float) -> list[dict]:
    """The view's feature columns for every entity row: one multi-get, each found item
    decoded (or taken from DECODED_ITEMS), then built column by column.

    Column-wise on purpose: a few dozen lists per request instead of a few per row keep
    the garbage collector's young generations small, and with them the full collections
    that otherwise land in the latency tail."""
    view = group.view
    table = feast_table(store, view)
    if table is None or not rows:
        return [_absent_column(rows) for _ in group.features]
    keys = [table.schema.encode({table.schema.hash_name: {"S": i}}) for i in _entity_ids(view, entities, rows)]
    items: list[dict[str, Any]] = []
    stamps: list[str] = []
    found_events: list[float] = []
    expired: set[int] = set()
    for row, (key, raw) in enumerate(zip(keys, store.get_many(table, keys))):
        if raw is None:
            items.append(_ABSENT)
            stamps.append(EPOCH)
            continue
        _, timestamp, event_seconds, decoded = DECODED_ITEMS.get(table.column_family, key, raw)
        items.append(decoded)
        stamps.append(timestamp)
        found_events.append(event_seconds)
        if view.ttl_seconds > 0 and now - event_seconds > view.ttl_seconds:
            expired.add(row)
    freshness.record_served(view.name, now, found_events)
    all_present = [PRESENT] * rows
    columns = []
    for feature in group.features:
        values = [item.get(feature) for item in items]
        if expired or None in values:
            columns.append(_column_with_gaps(feature, values, items, stamps, expired))
        else:
            columns.append({"values": values, "statuses": all_present, "event_timestamps": stamps})
    return columns


def _absent_column(rows: int) -> dict:
    return {"values": [None] * rows, "statuses": [NOT_FOUND] * rows, "event_timestamps": [EPOCH] * rows}


def _column_with_gaps(feature: str, values: list, items: list[dict], stamps: list[str], expired: set[int]) -> dict:
    """A column with missing rows, null values or values past the view's TTL."""
    statuses, column_stamps = [], []
    for row, (value, item) in enumerate(zip(values, items)):
        if feature not in item:
            statuses.append(NOT_FOUND)
            column_stamps.append(EPOCH)
            continue
        statuses.append(OUTSIDE_MAX_AGE if row in expired else NULL_VALUE if value is None else PRESENT)
        column_stamps.append(stamps[row])
    return {"values": values, "statuses": statuses, "event_timestamps": column_stamps}


@lru_cache(maxsize=65536)
def event_time(stored: str) -> tuple[str, float]:
    """Feast's ``event_ts`` (``str(datetime)``) as the feature server renders it (RFC 3339
    UTC, ``Z``, sub-second digits only as many as needed) and as epoch seconds."""
    try:
        moment = datetime.fromisoformat(stored)
    except ValueError:
        return EPOCH, 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros == 0:
        text += "Z"
    elif micros % 1000 == 0:
        text += f".{micros // 1000:03d}Z"
    else:
        text += f".{micros:06d}Z"
    return text, moment.timestamp()

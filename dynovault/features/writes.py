"""Feature rows in Feast's item layout, change detection, and the server-side write lanes.

Every lane (batch ingest, push, direct writes) turns column-oriented data into the items
Feast itself would write — ``entity_id`` (hashed entity key), ``event_ts``
(``str(datetime)``), ``values`` (feature -> serialized Value) — so Feast, our serving path
and any DynamoDB client read them alike, plus one attribute of our own for cheap change
detection (``dv_digest``, below).
"""

from __future__ import annotations

import asyncio
from binascii import b2a_base64
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

import orjson

from dynovault.features import feast_values, freshness
from dynovault.features.definitions import FeatureView
from dynovault.features.entitykey import EntityValueError
from dynovault.features.serving import feast_table
from dynovault.items import store_form, validated_item
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, Table
from dynovault.tables import create_table

TIMESTAMP_COLUMNS = ("event_timestamp", "event_ts")


class FeatureWriteError(ValueError):
    """Rows that cannot be written to a feature view as given."""


# Written next to Feast's attributes (Feast reads only its own): a digest of the row's
# feature values as given, and the event_ts written with them. While the item's event_ts
# is still that one, no other writer touched its values, and the digest alone tells
# whether a new row changes them, without fetching and comparing every value.
DIGEST_ATTRIBUTE = "dv_digest"


@dataclass(slots=True)
class FeatureRow:
    entity_id: str
    event_ts: str
    event_seconds: float
    raw: dict[str, Any]
    view: FeatureView
    _values: dict[str, dict] | None = None

    @property
    def values(self) -> dict[str, dict]:
        """Feast's ``values`` map, encoded on first use (ingest encodes changed rows only)."""
        if self._values is None:
            self._values = {name: _encoded(self.view, name, value) for name, value in self.raw.items()}
        return self._values

    @property
    def digest(self) -> str:
        raw = orjson.dumps(self.raw, default=repr, option=orjson.OPT_SORT_KEYS)
        return blake2b(raw, digest_size=12).hexdigest()

    def item(self) -> dict:
        return {
            "entity_id": {"S": self.entity_id},
            "event_ts": {"S": self.event_ts},
            "values": {"M": self.values},
            DIGEST_ATTRIBUTE: {"S": f"{self.digest}|{self.event_ts}"},
        }

    def decided_by_digest(self, stored: dict) -> bool:
        digest_mark = stored.get(DIGEST_ATTRIBUTE, {}).get("S", "")
        return bool(digest_mark) and digest_mark.partition("|")[2] == stored.get("event_ts", {}).get("S")

    def differs_from(self, stored: dict | None) -> bool:
        """Change detection: only feature values count; a newer timestamp on the same
        values is not a change worth a write. ``stored`` needs ``values`` unless its
        digest decides."""
        if stored is None:
            return True
        if self.decided_by_digest(stored):
            return stored[DIGEST_ATTRIBUTE]["S"].partition("|")[0] != self.digest
        return stored.get("values", {}).get("M") != self.values


def feature_rows(view: FeatureView, columns: dict[str, list], now: datetime | None = None) -> list[FeatureRow]:
    """Rows of ``view`` from columns (join keys, any of its features, optionally
    ``event_timestamp``; rows without a timestamp are stamped ``now``). Values are
    encoded (and type-checked) when a row's ``values`` are first used."""
    missing = [key for key in view.join_keys if key not in columns]
    if missing:
        raise FeatureWriteError(f"feature view {view.name!r} needs join key column(s) {', '.join(missing)}")
    features = [name for name in columns if name in view.features]
    if not features:
        raise FeatureWriteError(f"no column names a feature of {view.name!r} ({', '.join(view.features)})")
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1:
        raise FeatureWriteError("all columns must have the same number of values")
    stamp_column = next((columns[name] for name in TIMESTAMP_COLUMNS if name in columns), None)
    now = now or datetime.now(UTC)
    key_columns = [columns[key] for key in view.join_keys]
    feature_columns = [columns[name] for name in features]
    rows = []
    for index, (key, values) in enumerate(zip(zip(*key_columns), zip(*feature_columns))):
        moment = _timestamp(stamp_column[index]) if stamp_column is not None else now
        try:
            entity_id = view.codec.entity_id(key)
        except EntityValueError as error:
            raise FeatureWriteError(f"row {index}: {error}") from None
        rows.append(FeatureRow(entity_id, str(moment), moment.timestamp(), dict(zip(features, values)), view))
    return rows


def _encoded(view: FeatureView, name: str, value: Any) -> dict:
    value_type = view.features[name]
    try:
        return {"B": b2a_base64(feast_values.encode(value, value_type), newline=False).decode()}
    except (ValueError, TypeError) as error:
        raise FeatureWriteError(f"feature {view.name}:{name} ({value_type}): {error}") from None


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FeatureWriteError(f"event timestamp {value!r} is not ISO 8601") from None
    else:
        raise FeatureWriteError(f"event timestamp {value!r} is neither a time nor epoch seconds")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.to_pydatetime() if hasattr(moment, "to_pydatetime") else moment


# ---- server-side lanes -------------------------------------------------------------


def feature_table(node: Node, view: FeatureView) -> Table:
    """The view's table, created with Feast's key schema when Feast has not made it yet."""
    return feast_table(node.store, view) or create_table(
        node,
        {
            "TableName": view.table,
            "KeySchema": [{"AttributeName": "entity_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "entity_id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def item_changes(table: Table, rows: list[FeatureRow]) -> list[ItemChange]:
    changes = []
    for row in rows:
        item, size, key = validated_item(table, row.item())
        changes.append(ItemChange(table, key, store_form(item, size)))
    return changes


@dataclass(slots=True)
class _Pending:
    changes: list[ItemChange]
    done: asyncio.Future


class MicroBatcher:
    """Coalesces concurrent small writes (pushes) into one storage commit.

    A write waits at most ``delay`` seconds for company, or commits at once when
    ``max_items`` are pending; each caller returns when its rows are readable.
    """

    def __init__(self, node: Node, delay: float = 0.002, max_items: int = 2000) -> None:
        self.node = node
        self.delay = delay
        self.max_items = max_items
        self._pending: list[_Pending] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    async def write(self, changes: list[ItemChange]) -> None:
        loop = asyncio.get_running_loop()
        entry = _Pending(changes, loop.create_future())
        self._pending.append(entry)
        self._count += len(changes)
        if self._count >= self.max_items:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.delay, self._flush)
        await entry.done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending, self._count = self._pending, [], 0
        if not pending:
            return
        try:
            self.node.store.write([change for entry in pending for change in entry.changes])
        except Exception as error:  # noqa: BLE001 - whatever failed the commit fails every waiting push
            for entry in pending:
                entry.done.set_exception(error)
            return
        for entry in pending:
            entry.done.set_result(None)


async def write_rows(
    node: Node, view: FeatureView, rows: list[FeatureRow], lane: str, arrived: float,
    batcher: MicroBatcher | None = None,
) -> int:
    """Write rows of one view now (or through ``batcher``); record freshness from
    ``arrived``, the request's arrival time."""
    table = feature_table(node, view)
    changes = item_changes(table, rows)
    if batcher is None:
        node.store.write(changes)
    else:
        await batcher.write(changes)
    freshness.record_write(view.name, lane, arrived, [row.event_seconds for row in rows])
    return len(changes)

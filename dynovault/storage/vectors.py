"""Vector indexes: what an item puts into each, and the nearest-neighbour search over them.

An entry is kept in the index's own column family, keyed by the item's table key and
staged in the item's WriteBatch like a secondary-index entry: its value is the entry's
size, the vector as 32-bit floats and the projected item (less the vector) in wire JSON.
That column family is the index's durable truth. The search structure over it lives in
memory (``VectorSpace``): loaded from the column family when the store opens, then kept
current by every committed change (``VectorChange``, applied once its batch is written),
so leaders, followers applying the log and restarted nodes all search what they hold.

A space is split into partitions by the values of the index's HASH search-schema
attributes (one partition when it has none). A partition is searched exactly with numpy
while it is small; past ``exact_limit`` vectors it also gets an HNSW graph (usearch),
fed in batches: vectors not yet in the graph are searched exactly beside it, so a search
always sees every committed vector. Every result's score is computed the same way,
exactly, from the stored vector, whichever path found it.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from rocksdict import Rdict, WriteBatch
from usearch.index import Index

from dynovault.storage.graph_snapshots import RowKeys, forget_graphs, load_graph, save_graphs
from dynovault.storage.indexes import IndexFamily, family_fields
from dynovault.storage.keycodec import encode_value
from dynovault.storage.stored import stored_json
from dynovault.values.attributes import canonical_item

Item = dict[str, dict]
KeyPart = tuple[str, str]
Accept = Callable[[Item], bool]

DEFAULT_EXACT_LIMIT = 10_000
# Vectors added to a partition's graph per batch (searched exactly until then).
GRAPH_BATCH = 1_024
_GRAPH_METRIC = {"COSINE": "cos", "EUCLIDEAN": "l2sq", "DOT_PRODUCT": "ip"}
_GRAPH_CONNECTIVITY = 16
_GRAPH_EXPANSION_ADD = 64
_GRAPH_EXPANSION_SEARCH = 128
_GRAPH_THREADS = 2
_SIZE = struct.Struct(">I")
F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, slots=True)
class VectorLayout:
    """One vector index of a table, as storage needs it. ``hash_parts`` are its HASH
    search-schema attributes (which partition it), ``range_parts`` its INLINE_FILTER
    ones, each with the type AttributeDefinitions gives it. ``projected`` is None for an
    ALL projection, else every attribute an entry holds besides the vector."""

    name: str
    attribute: str
    dimensions: int
    distance: str
    hash_parts: tuple[KeyPart, ...]
    range_parts: tuple[KeyPart, ...]
    projected: frozenset[str] | None
    column_family: str

    def vector_of(self, item: Item) -> np.ndarray | None:
        """The item's vector as float32, or None when it has none this index can hold (no
        such attribute, or one a backfill finds malformed: writes refuse those)."""
        value = item.get(self.attribute)
        elements = value.get("L") if value else None
        if elements is None or len(elements) != self.dimensions:
            return None
        try:
            numbers = np.array([element["N"] for element in elements], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            return None
        if not np.all(np.abs(numbers) <= F32_MAX):
            return None
        return numbers.astype(np.float32)

    def partition_of(self, item: Item) -> bytes | None:
        """The encoded HASH values naming the item's partition; None when the item lacks
        one (it is then not in the index, as an item lacking a GSI key is not in that GSI)."""
        encoded = []
        for name, tag in self.hash_parts:
            value = item.get(name)
            if value is None or tag not in value:
                return None
            encoded.append(encode_value(tag, value[tag]))
        return b"".join(encoded)

    def partition_for(self, values: list[dict]) -> bytes:
        """The partition a search names by its HASH values (in ``hash_parts`` order)."""
        return b"".join(encode_value(tag, value[tag]) for (_, tag), value in zip(self.hash_parts, values))

    def entry(self, item: Item) -> tuple[bytes, np.ndarray, bytes, Item] | None:
        """(stored entry, vector, partition, filter attributes) of the item, or None when
        it is not in this index."""
        vector = self.vector_of(item)
        partition = self.partition_of(item) if vector is not None else None
        if partition is None:
            return None
        projection = {
            name: value
            for name, value in item.items()
            if name != self.attribute and (self.projected is None or name in self.projected)
        }
        _, rest = canonical_item(projection)
        size = 4 * self.dimensions + len(self.attribute.encode()) + rest
        stored = _SIZE.pack(size) + vector.tobytes() + orjson.dumps(projection)
        return stored, vector, partition, self.filter_values(projection)

    def filter_values(self, item: Item) -> Item:
        return {name: item[name] for name, _ in self.range_parts if name in item}

    def decode(self, stored: bytes) -> tuple[np.ndarray, Item]:
        """The vector and the projected item (without the vector) of a stored entry."""
        end = _SIZE.size + 4 * self.dimensions
        return np.frombuffer(stored, dtype=np.float32, count=self.dimensions, offset=_SIZE.size), orjson.loads(
            stored[end:]
        )


def entry_size(stored: bytes) -> int:
    """An entry's size: 4 bytes a dimension, the vector attribute's name and the rest of
    the projected item."""
    return _SIZE.unpack_from(stored)[0]


def vector_column_family(table_id: str, index_name: str) -> str:
    digest = hashlib.blake2b(index_name.encode(), digest_size=8).hexdigest()
    return f"v_{table_id.replace('-', '')}_{digest}"


def vector_layouts_of(description: dict) -> tuple[VectorLayout, ...]:
    """Every vector index a table description declares."""
    types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    table_keys = {k["AttributeName"] for k in description["KeySchema"]}
    layouts = []
    for index in description.get("VectorIndexes", ()):
        schema = index.get("SearchSchema", ())
        hash_parts = tuple((e["AttributeName"], types[e["AttributeName"]]) for e in schema
                           if e["SearchSchemaElementType"] == "HASH")
        filter_parts = tuple((e["AttributeName"], types[e["AttributeName"]]) for e in schema
                             if e["SearchSchemaElementType"] == "INLINE_FILTER")
        projection = index["Projection"]
        projected = None
        if projection["ProjectionType"] != "ALL":
            schema_names = {name for name, _ in hash_parts + filter_parts}
            projected = frozenset(table_keys | schema_names | set(projection.get("NonKeyAttributes", ())))
        layouts.append(VectorLayout(
            name=index["IndexName"],
            attribute=index["VectorAttribute"]["AttributeName"],
            dimensions=int(index["Dimensions"]),
            distance=index["DistanceFunction"],
            hash_parts=hash_parts,
            range_parts=filter_parts,
            projected=projected,
            column_family=vector_column_family(description["TableId"], index["IndexName"]),
        ))
    return tuple(layouts)


# ---- scores ----------------------------------------------------------------------------


def scores(distance: str, vectors: np.ndarray, norms: np.ndarray, query: np.ndarray) -> np.ndarray:
    """SearchVectors' score of each row against the query, in float32 as DynamoDB
    computes it: COSINE 1 - cos (0 identical, 2 opposite; 1 against a zero vector),
    EUCLIDEAN the distance, DOT_PRODUCT the product."""
    if distance == "EUCLIDEAN":
        return np.sqrt(np.sum(np.square(vectors - query), axis=1, dtype=np.float32))
    products = vectors @ query
    if distance == "DOT_PRODUCT":
        return products
    lengths = norms * np.float32(np.linalg.norm(query))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosines = np.where(lengths > 0, products / lengths, np.float32(0))
    return np.float32(1) - cosines.astype(np.float32)


def rank_of(distance: str, score: np.ndarray | float) -> np.ndarray | float:
    """What orders results best first: the score, negated for DOT_PRODUCT (highest first)."""
    return -score if distance == "DOT_PRODUCT" else score


# ---- the in-memory search structure ------------------------------------------------------


@dataclass(slots=True)
class Partition:
    """The vectors of one partition: rows of a float32 matrix (freed rows are reused),
    their table keys and filter attributes, and past the exact limit an HNSW graph whose
    labels are row numbers."""

    dimensions: int
    distance: str
    vectors: np.ndarray = field(init=False)
    norms: np.ndarray = field(init=False)
    live: np.ndarray = field(init=False)
    keys: list[bytes | None] = field(default_factory=list)
    filters: list[Item | None] = field(default_factory=list)
    row_of: dict[bytes, int] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)
    graph: Index | None = None
    ungraphed: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.vectors = np.zeros((16, self.dimensions), dtype=np.float32)
        self.norms = np.zeros(16, dtype=np.float32)
        self.live = np.zeros(16, dtype=bool)

    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def rows(self) -> int:
        return len(self.keys)

    def put(self, key: bytes, vector: np.ndarray, filters: Item, exact_limit: int) -> None:
        row = self.row_of.get(key)
        if row is None:
            row = self._new_row()
            self.row_of[key] = row
            self.keys[row] = key
        elif np.array_equal(self.vectors[row], vector):
            # Another attribute of the item changed: the graph keeps its node.
            self.filters[row] = filters
            return
        elif self.graph is not None and row not in self.ungraphed:
            self.graph.remove(row)
        self.vectors[row] = vector
        self.norms[row] = np.linalg.norm(vector)
        self.live[row] = True
        self.filters[row] = filters
        if self.graph is not None:
            self.ungraphed.add(row)
            if len(self.ungraphed) >= GRAPH_BATCH:
                self._feed_graph()
        elif len(self) > exact_limit:
            self._start_graph()

    def fill(self, keys: list[bytes], vectors: np.ndarray, filters: list[Item], exact_limit: int,
             snapshot: tuple[Index, RowKeys] | None = None) -> None:
        """Fill an empty partition at once (the store opening): one matrix, and one graph
        build or, from a snapshot of the graph, the repairs that bring it up to date."""
        if snapshot is None or len(keys) <= exact_limit:
            self._place(keys, vectors, filters, list(range(len(keys))), len(keys))
            if len(keys) > exact_limit:
                self._start_graph()
            return
        graph, row_keys = snapshot
        entry_of = {key: position for position, key in enumerate(keys)}
        rows = [-1] * len(keys)
        free = []
        for row, key in enumerate(row_keys):
            position = entry_of.get(key) if key is not None else None
            if position is None:
                if key is not None:
                    graph.remove(row)
                free.append(row)
            else:
                rows[position] = row
        kept = [row for row in rows if row >= 0]
        ungraphed = set()
        next_row = len(row_keys)
        for position, row in enumerate(rows):
            if row >= 0:
                continue
            if free:
                row = free.pop()
            else:
                row, next_row = next_row, next_row + 1
            rows[position] = row
            ungraphed.add(row)
        self._place(keys, vectors, filters, rows, next_row)
        self.free = free
        if kept:
            held = np.stack(graph.get(np.array(kept, dtype=np.uint64)))
            for row in np.array(kept)[~np.all(held == self.vectors[kept], axis=1)].tolist():
                graph.remove(row)
                ungraphed.add(row)
        graph.expansion_add, graph.expansion_search = _GRAPH_EXPANSION_ADD, _GRAPH_EXPANSION_SEARCH
        self.graph, self.ungraphed = graph, ungraphed
        if len(ungraphed) >= GRAPH_BATCH:
            self._feed_graph()

    def _place(self, keys: list[bytes], vectors: np.ndarray, filters: list[Item], rows: list[int], count: int) -> None:
        """Put entry i (key, vector, filters) in row ``rows[i]`` of ``count`` rows."""
        capacity = max(16, 1 << max(count - 1, 0).bit_length())
        index = np.array(rows, dtype=np.intp)
        self.vectors = np.zeros((capacity, self.dimensions), dtype=np.float32)
        self.vectors[index] = vectors
        self.norms = np.zeros(capacity, dtype=np.float32)
        self.norms[index] = np.linalg.norm(vectors, axis=1)
        self.live = np.zeros(capacity, dtype=bool)
        self.live[index] = True
        self.keys = [None] * count
        self.filters = [None] * count
        for key, row, filter_values in zip(keys, rows, filters):
            self.keys[row] = key
            self.filters[row] = filter_values
        self.row_of = dict(zip(keys, rows))

    def graph_snapshot(self) -> tuple[Index, RowKeys] | None:
        """The graph, with every vector in it, and the key of each of its rows."""
        if self.graph is None:
            return None
        if self.ungraphed:
            self._feed_graph()
        return self.graph, list(self.keys)

    def remove(self, key: bytes) -> None:
        row = self.row_of.pop(key, None)
        if row is None:
            return
        if self.graph is not None and row not in self.ungraphed:
            self.graph.remove(row)
        self.ungraphed.discard(row)
        self.keys[row] = None
        self.filters[row] = None
        self.live[row] = False
        self.free.append(row)

    def _new_row(self) -> int:
        if self.free:
            return self.free.pop()
        row = self.rows
        if row == len(self.live):
            capacity = 2 * len(self.live)
            self.vectors = np.resize(self.vectors, (capacity, self.dimensions))
            self.norms = np.resize(self.norms, capacity)
            self.live = np.concatenate([self.live, np.zeros(capacity - row, dtype=bool)])
        self.keys.append(None)
        self.filters.append(None)
        return row

    def _start_graph(self) -> None:
        self.graph = Index(
            ndim=self.dimensions,
            metric=_GRAPH_METRIC[self.distance],
            dtype="f32",
            connectivity=_GRAPH_CONNECTIVITY,
            expansion_add=_GRAPH_EXPANSION_ADD,
            expansion_search=_GRAPH_EXPANSION_SEARCH,
        )
        self.ungraphed = set(self.row_of.values())
        self._feed_graph()

    def _feed_graph(self) -> None:
        rows = np.fromiter(sorted(self.ungraphed), dtype=np.uint64, count=len(self.ungraphed))
        self.graph.add(rows, self.vectors[rows.astype(np.intp)], threads=_GRAPH_THREADS)
        self.ungraphed.clear()

    # ---- search --------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, accept: Accept | None) -> list[tuple[float, bytes]]:
        """The ``k`` best (score, table key) whose filter attributes ``accept`` takes,
        best first, ties in table-key order."""
        if not len(self):
            return []
        if self.graph is not None:
            found = self._search_graph(query, k, accept)
            if found is not None:
                return found
        return self._search_exact(query, k, accept)

    def _search_exact(self, query: np.ndarray, k: int, accept: Accept | None) -> list[tuple[float, bytes]]:
        rows = self.rows
        ranks = rank_of(self.distance, scores(self.distance, self.vectors[:rows], self.norms[:rows], query))
        ranks = np.where(self.live[:rows], ranks, np.inf)
        order = np.argsort(ranks, kind="stable")
        chosen: list[int] = []
        last = None
        for row in order:
            if not self.live[row]:
                break
            if len(chosen) >= k and ranks[row] != last:
                break
            if accept is None or accept(self.filters[row]):
                chosen.append(int(row))
                last = ranks[row]
        return self._best(chosen, query, k)

    def _search_graph(self, query: np.ndarray, k: int, accept: Accept | None) -> list[tuple[float, bytes]] | None:
        """The graph's answer (with the vectors not yet in it searched exactly), or None
        when a filter rejects so many candidates that an exact search is needed."""
        ungraphed = [row for row in self.ungraphed if accept is None or accept(self.filters[row])]
        want = k
        while True:
            matches = self.graph.search(query, want, threads=1)
            graphed = [int(label) for label in matches.keys]
            if accept is not None:
                graphed = [row for row in graphed if accept(self.filters[row])]
            if len(graphed) >= k or len(matches.keys) < want:
                return self._best(sorted({*graphed, *ungraphed}), query, k)
            if want >= len(self) // 4:
                return None
            want *= 4

    def _best(self, rows: list[int], query: np.ndarray, k: int) -> list[tuple[float, bytes]]:
        if not rows:
            return []
        index = np.array(rows, dtype=np.intp)
        found = scores(self.distance, self.vectors[index], self.norms[index], query)
        ranks = rank_of(self.distance, found)
        if len(rows) > k:
            # Only the k best and whatever ties the k-th need ordering by key.
            chosen = np.flatnonzero(ranks <= np.partition(ranks, k - 1)[k - 1])
            index, found, ranks = index[chosen], found[chosen], ranks[chosen]
        ranked = sorted(zip(ranks.tolist(), found.tolist(), index.tolist()),
                        key=lambda entry: (entry[0], self.keys[entry[2]]))
        return [(score, self.keys[row]) for _, score, row in ranked[:k]]


@dataclass(slots=True)
class VectorSpace:
    """The partitions of one vector index."""

    layout: VectorLayout
    exact_limit: int
    partitions: dict[bytes, Partition] = field(default_factory=dict)
    # Where the graphs' snapshots are kept (None: not kept).
    graphs: Path | None = None

    def put(self, key: bytes, partition: bytes, vector: np.ndarray, filters: Item) -> None:
        target = self.partitions.get(partition)
        if target is None:
            target = self.partitions[partition] = Partition(self.layout.dimensions, self.layout.distance)
        target.put(key, vector, filters, self.exact_limit)

    def fill(self, entries: Iterator[tuple[bytes, bytes, bytes, Item]]) -> None:
        """Fill an empty space from (key, partition, float32 bytes, filters) entries."""
        grouped: dict[bytes, tuple[list, list, list]] = {}
        for key, partition, vector, filters in entries:
            keys, vectors, filter_values = grouped.setdefault(partition, ([], [], []))
            keys.append(key)
            vectors.append(vector)
            filter_values.append(filters)
        dimensions, distance = self.layout.dimensions, self.layout.distance
        for partition, (keys, vectors, filter_values) in grouped.items():
            target = self.partitions[partition] = Partition(dimensions, distance)
            matrix = np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(keys), dimensions)
            snapshot = None
            if self.graphs is not None and len(keys) > self.exact_limit:
                snapshot = load_graph(self.graphs, partition, distance, dimensions)
            target.fill(keys, matrix, filter_values, self.exact_limit, snapshot)

    def save_graphs(self) -> None:
        """Snapshot every partition's graph (the store closing)."""
        if self.graphs is None:
            return
        graphs = {partition: target.graph_snapshot() for partition, target in self.partitions.items()}
        save_graphs(self.graphs, self.layout.distance, self.layout.dimensions,
                    {partition: snapshot for partition, snapshot in graphs.items() if snapshot is not None})

    def forget_graphs(self) -> None:
        if self.graphs is not None:
            forget_graphs(self.graphs)

    def remove(self, key: bytes, partition: bytes) -> None:
        target = self.partitions.get(partition)
        if target is not None:
            target.remove(key)
            if not len(target):
                del self.partitions[partition]

    def search(self, partition: bytes, query: np.ndarray, k: int, accept: Accept | None) -> list[tuple[float, bytes]]:
        target = self.partitions.get(partition)
        return target.search(query, k, accept) if target is not None else []

    def memory_bytes(self) -> int:
        """Bytes the space holds in memory: its matrices and graphs."""
        total = 0
        for partition in self.partitions.values():
            total += partition.vectors.nbytes + partition.norms.nbytes + partition.live.nbytes
            if partition.graph is not None:
                total += partition.graph.memory_usage
        return total


@dataclass(frozen=True, slots=True)
class VectorChange:
    """What one committed item change does to a space: take the key out of its old
    partition, then put it (when ``vector`` is given) into its new one."""

    space: VectorSpace
    key: bytes
    old_partition: bytes | None
    partition: bytes | None = None
    vector: np.ndarray | None = None
    filters: Item | None = None

    def apply(self) -> None:
        if self.old_partition is not None and self.old_partition != self.partition:
            self.space.remove(self.key, self.old_partition)
        if self.vector is not None:
            self.space.put(self.key, self.partition, self.vector, self.filters)


# ---- a live index ------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class LiveVectorIndex(IndexFamily):
    """A vector index of a live table: its layout, its column family and its space."""

    layout: VectorLayout
    space: VectorSpace

    def stage(self, batch: WriteBatch, table_key: bytes, old: Item | None, new: Item | None,
              changes: list[VectorChange]) -> None:
        """Stage in ``batch`` what one item change does to this index's entries, and note
        in ``changes`` what it does to the space once committed."""
        if self.covers(table_key):
            self._stage_entries(batch, table_key, old, new, changes)

    def _stage_entries(self, batch: WriteBatch, table_key: bytes, old: Item | None, new: Item | None,
                       changes: list[VectorChange]) -> None:
        before = self.layout.entry(old) if old is not None else None
        after = self.layout.entry(new) if new is not None else None
        if before is None and after is None:
            return
        if before is not None and after is not None and before[0] == after[0]:
            return
        if before is not None:
            self._account(before[0], -1)
            if after is None:
                batch.delete(table_key, self.cf_handle)
        if after is not None:
            batch.put(table_key, after[0], self.cf_handle)
            self._account(after[0], 1)
            changes.append(VectorChange(self.space, table_key, before and before[2], after[2], after[1], after[3]))
        else:
            changes.append(VectorChange(self.space, table_key, before[2]))

    def stage_build(self, batch: WriteBatch, table_key: bytes, stored: bytes, changes: list[VectorChange]) -> None:
        """Stage the entry of one item the build reaches (it was not indexed before)."""
        self._stage_entries(batch, table_key, None, orjson.loads(stored_json(stored)), changes)

    def _account(self, stored: bytes, sign: int) -> None:
        self.count(entry_size(stored), sign)

    def entries(self, keys: list[bytes]) -> list[bytes | None]:
        return self.data.get(keys)

    def load(self) -> None:
        """Fill the space from the column family (the store opening)."""
        self.space.fill(self._loaded_entries())

    def _loaded_entries(self) -> Iterator[tuple[bytes, bytes, bytes, Item]]:
        vector_end = _SIZE.size + 4 * self.layout.dimensions
        for key, stored in _iterate(self.data):
            item = orjson.loads(stored[vector_end:])
            partition = self.layout.partition_of(item)
            if partition is not None:
                yield key, partition, stored[_SIZE.size : vector_end], self.layout.filter_values(item)


def _iterate(data: Rdict) -> Iterator[tuple[bytes, bytes]]:
    it = data.iter()
    it.seek_to_first()
    while it.valid():
        yield it.key(), it.value()
        it.next()


def open_vector_index(db: Rdict, layout: VectorLayout, stats: Rdict, meta: Rdict, create: bool,
                      exact_limit: int, load: bool = True, graphs: Path | None = None) -> LiveVectorIndex | None:
    """One live vector index, its space loaded from its column family when ``load`` (with
    graph snapshots from, and later to, ``graphs``/<column family> when given); None when
    the column family is missing and ``create`` is false."""
    fields = family_fields(db, layout.column_family, stats, meta, create)
    if fields is None:
        return None
    folder = None if graphs is None else graphs / layout.column_family
    index = LiveVectorIndex(layout=layout, space=VectorSpace(layout, exact_limit, graphs=folder), **fields)
    if load:
        index.load()
    return index


def open_vector_indexes(db: Rdict, description: dict, stats: Rdict, meta: Rdict, create: bool,
                        exact_limit: int = DEFAULT_EXACT_LIMIT, load: bool = True,
                        graphs: Path | None = None) -> tuple[LiveVectorIndex, ...] | None:
    """The live vector indexes a table description declares; None when one's column
    family is missing and ``create`` is false."""
    indexes = []
    for layout in vector_layouts_of(description):
        index = open_vector_index(db, layout, stats, meta, create, exact_limit, load, graphs)
        if index is None:
            return None
        indexes.append(index)
    return tuple(indexes)


def float32_text(value: float) -> str:
    """A float32's shortest decimal form, as DynamoDB returns an index's copy of a vector
    (``0.6`` stays ``0.6``, ``0`` reads ``0.0``)."""
    if not math.isfinite(value):
        raise ValueError(value)
    return np.format_float_positional(np.float32(value), unique=True, trim="0")

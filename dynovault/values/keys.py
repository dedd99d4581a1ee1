"""A table's primary key schema: which attributes form the key and of which types."""

from __future__ import annotations

from dataclasses import dataclass

MAX_HASH_KEY_SIZE = 2048
MAX_RANGE_KEY_SIZE = 1024


@dataclass(frozen=True, slots=True)
class KeySchema:
    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.hash_name,) if self.range_name is None else (self.hash_name, self.range_name)

    @property
    def parts(self) -> tuple[tuple[str, str, bool], ...]:
        """(name, type, is the partition key) of each key attribute, partition key first."""
        if self.range_name is None:
            return ((self.hash_name, self.hash_type, True),)
        return ((self.hash_name, self.hash_type, True), (self.range_name, self.range_type, False))

    @classmethod
    def of(cls, description: dict) -> KeySchema:
        """The key schema a table description (``KeySchema`` + ``AttributeDefinitions``) gives."""
        types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
        names = {k["KeyType"]: k["AttributeName"] for k in description["KeySchema"]}
        range_name = names.get("RANGE")
        return cls(names["HASH"], types[names["HASH"]], range_name, types[range_name] if range_name else None)

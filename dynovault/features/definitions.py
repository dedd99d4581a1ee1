"""Feature definitions: what the serving and ingestion paths need to know about a Feast repo.

A compact JSON file, written by ``dynovault features sync`` from a Feast registry or by hand:

    {
      "project": "dash",
      "feature_views": {
        "user_stats": {
          "table": "dash.user_stats",
          "join_keys": {"user_id": "INT64"},
          "features": {"clicks": "INT64", "ctr": "DOUBLE"},
          "ttl_seconds": 86400
        }
      },
      "feature_services": {"ranking": ["user_stats:clicks", "user_stats:ctr"]},
      "push_sources": {"user_stats_push": ["user_stats"]}
    }

Types are Feast ValueType names; ``ttl_seconds`` 0 means values never age out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dynovault.features.entitykey import ENTITY_KEY_TYPES, EntityKeyCodec
from dynovault.features.feast_values import VALUE_TYPES


class DefinitionError(ValueError):
    """A definition file that does not describe a usable set of feature views."""


@dataclass
class FeatureView:
    name: str
    table: str
    join_keys: dict[str, str]
    features: dict[str, str]
    ttl_seconds: float = 0
    codec: EntityKeyCodec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.join_keys:
            raise DefinitionError(f"feature view {self.name!r} has no join keys")
        for name, value_type in self.join_keys.items():
            if value_type not in ENTITY_KEY_TYPES:
                raise DefinitionError(
                    f"join key {name!r} of feature view {self.name!r} has type {value_type}; "
                    f"join keys must be one of {', '.join(ENTITY_KEY_TYPES)}"
                )
        for name, value_type in self.features.items():
            if value_type not in VALUE_TYPES:
                raise DefinitionError(f"feature {self.name}:{name} has unknown type {value_type!r}")
        self.codec = EntityKeyCodec(list(self.join_keys.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "join_keys": self.join_keys,
            "features": self.features,
            "ttl_seconds": self.ttl_seconds,
        }


@dataclass
class Definitions:
    project: str
    feature_views: dict[str, FeatureView]
    feature_services: dict[str, list[str]] = field(default_factory=dict)
    push_sources: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service, refs in self.feature_services.items():
            for ref in refs:
                self.split_ref(ref, context=f"feature service {service!r}")
        for source, views in self.push_sources.items():
            for view in views:
                if view not in self.feature_views:
                    raise DefinitionError(f"push source {source!r} feeds unknown feature view {view!r}")

    def split_ref(self, ref: str, context: str = "request") -> tuple[FeatureView, str]:
        """``"view:feature"`` → (view, feature), or a DefinitionError naming what is unknown."""
        view_name, sep, feature = ref.partition(":")
        if not sep or not feature:
            raise DefinitionError(f"{context}: feature reference {ref!r} is not of the form 'feature_view:feature'")
        view = self.feature_views.get(view_name)
        if view is None:
            raise DefinitionError(f"{context}: unknown feature view {view_name!r} in {ref!r}")
        if feature not in view.features:
            raise DefinitionError(f"{context}: feature view {view_name!r} has no feature {feature!r}")
        return view, feature

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "feature_views": {name: view.to_json() for name, view in self.feature_views.items()},
            "feature_services": self.feature_services,
            "push_sources": self.push_sources,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Definitions:
        try:
            views = {
                name: FeatureView(
                    name=name,
                    table=spec.get("table", f"{data['project']}.{name}"),
                    join_keys=dict(spec["join_keys"]),
                    features=dict(spec["features"]),
                    ttl_seconds=float(spec.get("ttl_seconds", 0)),
                )
                for name, spec in data["feature_views"].items()
            }
            return cls(
                project=data["project"],
                feature_views=views,
                feature_services={k: list(v) for k, v in data.get("feature_services", {}).items()},
                push_sources={k: list(v) for k, v in data.get("push_sources", {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise DefinitionError(f"malformed definition file: missing or wrong field {error}") from None


def load(path: str | Path) -> Definitions:
    try:
        return Definitions.from_json(orjson.loads(Path(path).read_bytes()))
    except orjson.JSONDecodeError as error:
        raise DefinitionError(f"{path}: not JSON: {error}") from None


def save(definitions: Definitions, path: str | Path) -> None:
    """Write atomically, so a server reloading the file never sees half of it."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(orjson.dumps(definitions.to_json(), option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)


class DefinitionsFile:
    """A definition file that is re-read when it changes, so a running server picks up
    a new ``features sync`` without a restart."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._definitions: Definitions | None = None

    def current(self) -> Definitions | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._definitions
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._definitions = load(self.path)
            self._stamp = stamp
        return self._definitions

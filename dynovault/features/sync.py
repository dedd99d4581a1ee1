"""``dynovault features sync``: turn a Feast repository's registry into a definition file.

The only module of the layer that imports Feast (an optional extra); serving and
ingestion read the definition file it writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dynovault.features.definitions import Definitions, FeatureView

DEFAULT_TABLE_TEMPLATE = "{project}.{table_name}"


def definitions_from_repo(repo: Path) -> Definitions:
    try:
        from feast import FeatureStore
    except ImportError:
        raise SystemExit("reading a Feast repository needs Feast: pip install 'dynovault[features]'") from None
    store = FeatureStore(repo_path=str(repo))
    project = store.config.project
    template = getattr(store.config.online_store, "table_name_template", DEFAULT_TABLE_TEMPLATE)
    feature_views = [*store.list_feature_views(), *store.list_stream_feature_views()]
    views = {fv.name: _view(fv, project, template) for fv in feature_views}
    services = {
        service.name: [
            f"{projection.name}:{feature.name}"
            for projection in service.feature_view_projections
            for feature in projection.features
        ]
        for service in store.list_feature_services()
    }
    return Definitions(project, views, services, _push_sources(feature_views))


def _view(fv: Any, project: str, template: str) -> FeatureView:
    return FeatureView(
        name=fv.name,
        table=template.format(project=project, table_name=fv.name),
        join_keys={column.name: column.dtype.to_value_type().name for column in fv.entity_columns},
        features={feature.name: feature.dtype.to_value_type().name for feature in fv.features},
        ttl_seconds=fv.ttl.total_seconds() if fv.ttl else 0,
    )


def _push_sources(feature_views: list[Any]) -> dict[str, list[str]]:
    from feast.data_source import PushSource

    sources: dict[str, list[str]] = {}
    for fv in feature_views:
        source = getattr(fv, "stream_source", None)
        if isinstance(source, PushSource):
            sources.setdefault(source.name, []).append(fv.name)
    return sources

"""A node: its store and its identity (region, account, address), which every layer
above storage (the DynamoDB operations, replication, the feature layer) works with."""

from __future__ import annotations

from dataclasses import dataclass

from dynovault.errors import ResourceNotFoundException
from dynovault.storage.engine import Store, Table


@dataclass
class Node:
    store: Store
    region: str = "us-east-1"
    account_id: str = "000000000000"
    address: str = "localhost:8000"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}"

    def table(self, name_or_arn: str) -> Table:
        """The live table a request names (by name or ARN), or DynamoDB's not-found error."""
        table = self.store.tables.get(table_name(name_or_arn))
        if table is None:
            raise ResourceNotFoundException("Requested resource not found")
        return table


def table_name(name_or_arn: str) -> str:
    marker = ":table/"
    if name_or_arn.startswith("arn:") and marker in name_or_arn:
        return name_or_arn.split(marker, 1)[1].split("/", 1)[0]
    return name_or_arn

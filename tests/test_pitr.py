"""Point-in-time recovery through boto3: UpdateContinuousBackups and
DescribeContinuousBackups, RestoreTableToPointInTime, and the property that a restore to
any time T holds exactly the writes acknowledged before T."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.backups.continuous import RECENT_SNAPSHOTS, Snapshot, unneeded
from dynovault.testing.processes import ServerProcess
from tests.backup_helpers import (
    by_key,
    create_keyed_table,
    every_type_item,
    put_items,
    scan_all,
    wait_for,
    wait_table_active,
)
from tests.conftest import client_for
from tests.test_conformance import refusal

SNAPSHOT_INTERVAL = 0.3


@pytest.fixture(scope="module")
def pitr_server(tmp_path_factory):
    """A server taking recovery snapshots every few tenths of a second."""
    server = ServerProcess(tmp_path_factory.mktemp("pitr") / "data",
                           ["--pitr-snapshot-interval", str(SNAPSHOT_INTERVAL)]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(pitr_server):
    return client_for(pitr_server.url)


def recovery(client, name: str) -> dict:
    return client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]


def enable(client, name: str, days: int | None = None) -> dict:
    specification: dict = {"PointInTimeRecoveryEnabled": True}
    if days is not None:
        specification["RecoveryPeriodInDays"] = days
    client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=specification)
    return wait_for(lambda: "EarliestRestorableDateTime" in recovery(client, name) and recovery(client, name),
                    f"first recovery snapshot of {name}")


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def test_enabling_changing_and_disabling_recovery(client, table_name):
    create_keyed_table(client, table_name, with_indexes=False)
    answer = client.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    assert answer == {"ContinuousBackupsStatus": "ENABLED",
                      "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    before = time.time()
    described = enable(client, table_name, days=7)
    assert described["PointInTimeRecoveryStatus"] == "ENABLED" and described["RecoveryPeriodInDays"] == 7
    earliest, latest = described["EarliestRestorableDateTime"], described["LatestRestorableDateTime"]
    assert before - 1 <= earliest.timestamp() <= latest.timestamp() <= time.time() + 1
    answer = client.update_continuous_backups(
        TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True,
                                                                "RecoveryPeriodInDays": 1})
    assert answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 1
    assert recovery(client, table_name)["EarliestRestorableDateTime"] == earliest
    answer = client.update_continuous_backups(
        TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"}
    assert enable(client, table_name)["RecoveryPeriodInDays"] == 35


def test_refusals(client, pitr_server, table_name):
    assert refusal(client.describe_continuous_backups, TableName="no-such-table") == (
        "TableNotFoundException", "Table not found: no-such-table")
    assert refusal(client.update_continuous_backups, TableName="no-such-table",
                   PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})[0] == "TableNotFoundException"
    create_keyed_table(client, table_name, with_indexes=False)
    assert refusal(client.restore_table_to_point_in_time, SourceTableName=table_name, TargetTableName="never",
                   UseLatestRestorableTime=True) == (
        "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for table '{table_name}'")
    enable(client, table_name)
    assert refusal(client.restore_table_to_point_in_time, SourceTableName=table_name, TargetTableName="never",
                   RestoreDateTime=datetime(2001, 1, 1, tzinfo=timezone.utc))[0] == "InvalidRestoreTimeException"
    assert refusal(client.restore_table_to_point_in_time, SourceTableName=table_name, TargetTableName="never")[0] \
        == "ValidationException"
    assert refusal(client.restore_table_to_point_in_time, SourceTableName=table_name, TargetTableName=table_name,
                   UseLatestRestorableTime=True)[0] == "TableAlreadyExistsException"
    unchecked = boto3.client("dynamodb", endpoint_url=pitr_server.url, region_name="us-east-1",
                             config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    for days in (0, 36):
        code, _ = refusal(unchecked.update_continuous_backups, TableName=table_name,
                          PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True,
                                                            "RecoveryPeriodInDays": days})
        assert code == "ValidationException"
    assert "never" not in client.list_tables()["TableNames"]


def test_restore_to_latest_time_with_overrides_by_source_arn(client, table_name):
    create_keyed_table(client, table_name)
    enable(client, table_name)
    items = [every_type_item(i) for i in range(40)]
    put_items(client, table_name, items)
    arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    target = table_name + "-latest"
    answer = client.restore_table_to_point_in_time(
        SourceTableArn=arn, TargetTableName=target, UseLatestRestorableTime=True,
        LocalSecondaryIndexOverride=[], BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
    )["TableDescription"]
    assert answer["TableStatus"] == "CREATING" and answer["RestoreSummary"]["SourceTableArn"] == arn
    table = wait_table_active(client, target)
    assert "LocalSecondaryIndexes" not in table and table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert by_key(scan_all(client, target)) == by_key(items)
    assert len(scan_all(client, target, "by-g")) == len(items)
    restored = client.describe_continuous_backups(TableName=target)["ContinuousBackupsDescription"]
    assert restored["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def test_the_snapshots_kept_are_the_base_before_the_period_and_the_newest_after_it():
    kept = [Snapshot(float(t), t, Path(f"{t}.snap")) for t in range(10, 200, 10)]
    assert unneeded(kept, 5.0) == kept[1:-RECENT_SNAPSHOTS]
    dropped = unneeded(kept, 45.0)
    assert kept[3] not in dropped and kept[:3] == dropped[:3]
    assert [s for s in kept if s not in dropped] == [kept[3], *kept[-RECENT_SNAPSHOTS:]]
    assert unneeded(kept[:2], 500.0) == [kept[0]]
    assert unneeded(kept[:1], 500.0) == []


# ---- the property -------------------------------------------------------------------------

KEYS = [(f"p{i % 3}", i) for i in range(8)]
writes = st.lists(
    st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), st.integers(0, 1000)), st.booleans()),
    min_size=1, max_size=12,
)


@pytest.fixture(scope="module")
def recorded_table(client):
    """One recoverable table shared by the examples, and the model of what it holds."""
    create_keyed_table(client, "recorded", with_indexes=False)
    enable(client, "recorded")
    return {"name": "recorded", "model": {}, "restores": 0}


def _item(key: tuple[str, int], value: int) -> dict:
    return {"pk": {"S": key[0]}, "sk": {"N": str(key[1])}, "v": {"N": str(value)}, "s": {"S": "x" * value}}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=writes, choice=st.integers(min_value=0))
def test_a_restore_to_time_t_holds_exactly_the_writes_acknowledged_before_t(client, recorded_table, writes, choice):
    """Each write is recorded with the time it was sent and the time it was acknowledged;
    its commit time lies between. A restore time strictly between one write's
    acknowledgement and the next one's sending must hold exactly the writes before it.
    Pauses longer than the snapshot interval put snapshots between some of the writes."""
    name, model = recorded_table["name"], recorded_table["model"]
    states = [dict(model)]
    gaps = []
    previous_ack = time.time()
    for key, value, pause in writes:
        if pause:
            time.sleep(SNAPSHOT_INTERVAL * 1.5)
        time.sleep(0.005)
        sent = time.time()
        gaps.append((previous_ack + sent) / 2)
        if value is None:
            client.delete_item(TableName=name, Key={"pk": {"S": key[0]}, "sk": {"N": str(key[1])}})
            model.pop(key, None)
        else:
            client.put_item(TableName=name, Item=_item(key, value))
            model[key] = value
        previous_ack = time.time()
        states.append(dict(model))
    time.sleep(0.005)
    gaps.append((previous_ack + time.time()) / 2)
    position = choice % len(gaps)
    recorded_table["restores"] += 1
    target = f"recorded-{recorded_table['restores']}"
    client.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=target,
                                          RestoreDateTime=at(gaps[position]))
    wait_table_active(client, target)
    restored = {(item["pk"]["S"], int(item["sk"]["N"])): int(item["v"]["N"]) for item in scan_all(client, target)}
    assert restored == states[position]
    client.delete_table(TableName=target)

"""On-demand backups through boto3: CreateBackup → AVAILABLE, Describe/List/Delete,
RestoreTableFromBackup with DynamoDB's overrides, backups outliving their table and a
process killed mid-backup."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from dynovault.testing.cluster import Cluster
from dynovault.testing.processes import ServerProcess
from tests.backup_helpers import (
    by_key,
    create_keyed_table,
    every_type_item,
    put_items,
    scan_all,
    wait_backup_available,
    wait_for,
    wait_table_active,
)
from tests.conftest import client_for
from tests.test_conformance import refusal

ITEMS = [every_type_item(i) for i in range(60)]


@pytest.fixture
def filled_table(ddb, table_name):
    create_keyed_table(ddb, table_name)
    put_items(ddb, table_name, ITEMS)
    return table_name


def test_backup_becomes_available_and_describes_its_source(ddb, filled_table):
    details = ddb.create_backup(TableName=filled_table, BackupName="nightly")["BackupDetails"]
    assert details["BackupStatus"] in ("CREATING", "AVAILABLE")
    assert details["BackupType"] == "USER" and details["BackupName"] == "nightly"
    assert details["BackupArn"].startswith(ddb.describe_table(TableName=filled_table)["Table"]["TableArn"] + "/backup/")
    description = wait_backup_available(ddb, details["BackupArn"])
    source = description["SourceTableDetails"]
    assert source["TableName"] == filled_table and source["ItemCount"] == len(ITEMS)
    assert source["BillingMode"] == "PAY_PER_REQUEST"
    assert source["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}
    assert description["BackupDetails"]["BackupSizeBytes"] == source["TableSizeBytes"] > 0
    features = description["SourceTableFeatureDetails"]
    assert [index["IndexName"] for index in features["GlobalSecondaryIndexes"]] == ["by-g"]
    assert [index["IndexName"] for index in features["LocalSecondaryIndexes"]] == ["by-s"]


def test_restore_equals_the_table_at_backup_time_and_survives_delete_table(ddb, filled_table):
    arn = ddb.create_backup(TableName=filled_table, BackupName="before-changes")["BackupDetails"]["BackupArn"]
    ddb.put_item(TableName=filled_table, Item={**every_type_item(999)})
    ddb.delete_item(TableName=filled_table, Key={"pk": ITEMS[0]["pk"], "sk": ITEMS[0]["sk"]})
    wait_backup_available(ddb, arn)
    ddb.delete_table(TableName=filled_table)
    target = filled_table + "-restored"
    answer = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=arn)["TableDescription"]
    assert answer["TableStatus"] == "CREATING"
    assert answer["RestoreSummary"]["SourceBackupArn"] == arn and answer["RestoreSummary"]["RestoreInProgress"]
    table = wait_table_active(ddb, target)
    assert table["RestoreSummary"]["RestoreInProgress"] is False
    assert by_key(scan_all(ddb, target)) == by_key(ITEMS)
    assert len(scan_all(ddb, target, "by-g")) == len(ITEMS) == len(scan_all(ddb, target, "by-s"))
    assert table["ItemCount"] == len(ITEMS)


def test_restore_overrides_billing_throughput_indexes_and_sse(ddb, filled_table):
    arn = ddb.create_backup(TableName=filled_table, BackupName="for-overrides")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)
    target = filled_table + "-provisioned"
    ddb.restore_table_from_backup(
        TargetTableName=target, BackupArn=arn, BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
        GlobalSecondaryIndexOverride=[], LocalSecondaryIndexOverride=[],
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS"},
    )
    table = wait_table_active(ddb, target)
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert (table["ProvisionedThroughput"]["ReadCapacityUnits"], table["ProvisionedThroughput"]["WriteCapacityUnits"]) \
        == (3, 4)
    assert "GlobalSecondaryIndexes" not in table and "LocalSecondaryIndexes" not in table
    assert {d["AttributeName"] for d in table["AttributeDefinitions"]} == {"pk", "sk"}
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert len(scan_all(ddb, target)) == len(ITEMS)

    keys_only = filled_table + "-keys-only"
    ddb.restore_table_from_backup(
        TargetTableName=keys_only, BackupArn=arn,
        GlobalSecondaryIndexOverride=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                       "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )
    table = wait_table_active(ddb, keys_only)
    assert table["GlobalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by-s"]
    entries = scan_all(ddb, keys_only, "by-g")
    assert len(entries) == len(ITEMS) and all(set(entry) == {"pk", "sk", "g"} for entry in entries)


def test_a_provisioned_table_restores_provisioned_with_its_capacities(ddb, table_name):
    create_keyed_table(ddb, table_name, billing="PROVISIONED")
    arn = ddb.create_backup(TableName=table_name, BackupName="provisioned")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)
    ddb.restore_table_from_backup(TargetTableName=table_name + "-copy", BackupArn=arn)
    table = wait_table_active(ddb, table_name + "-copy")
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    on_demand = table_name + "-on-demand"
    ddb.restore_table_from_backup(TargetTableName=on_demand, BackupArn=arn, BillingModeOverride="PAY_PER_REQUEST")
    table = wait_table_active(ddb, on_demand)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 0


def test_list_backups_filters_by_table_time_and_type_and_pages(ddb, filled_table, table_name):
    other = table_name + "-other"
    create_keyed_table(ddb, other, with_indexes=False)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    arns = [ddb.create_backup(TableName=filled_table, BackupName=f"b-{i}")["BackupDetails"]["BackupArn"]
            for i in range(3)]
    other_arn = ddb.create_backup(TableName=other, BackupName="other")["BackupDetails"]["BackupArn"]
    for arn in [*arns, other_arn]:
        wait_backup_available(ddb, arn)
    listed = ddb.list_backups(TableName=filled_table)["BackupSummaries"]
    assert [summary["BackupArn"] for summary in listed] == arns
    assert listed[0]["TableName"] == filled_table and listed[0]["BackupStatus"] == "AVAILABLE"
    by_arn = ddb.list_backups(TableName=ddb.describe_table(TableName=other)["Table"]["TableArn"])
    assert [summary["BackupArn"] for summary in by_arn["BackupSummaries"]] == [other_arn]
    assert ddb.list_backups(TableName=filled_table, BackupType="SYSTEM")["BackupSummaries"] == []
    assert len(ddb.list_backups(TableName=filled_table, BackupType="ALL")["BackupSummaries"]) == 3
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ddb.list_backups(TableName=filled_table, TimeRangeLowerBound=future)["BackupSummaries"] == []
    assert ddb.list_backups(TableName=filled_table, TimeRangeUpperBound=before)["BackupSummaries"] == []
    window = ddb.list_backups(TableName=filled_table, TimeRangeLowerBound=before, TimeRangeUpperBound=future)
    assert len(window["BackupSummaries"]) == 3
    pages, start = [], {}
    while True:
        page = ddb.list_backups(TableName=filled_table, Limit=2, **start)
        pages.append([summary["BackupArn"] for summary in page["BackupSummaries"]])
        if "LastEvaluatedBackupArn" not in page:
            break
        start = {"ExclusiveStartBackupArn": page["LastEvaluatedBackupArn"]}
    assert pages == [arns[:2], arns[2:]]


def test_delete_backup_answers_deleted_and_forgets_it(ddb, filled_table):
    arn = ddb.create_backup(TableName=filled_table, BackupName="short-lived")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)
    deleted = ddb.delete_backup(BackupArn=arn)["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert refusal(ddb.describe_backup, BackupArn=arn) == ("BackupNotFoundException", f"Backup not found: {arn}")
    assert refusal(ddb.delete_backup, BackupArn=arn) == ("BackupNotFoundException", f"Backup not found: {arn}")
    assert arn not in [s["BackupArn"] for s in ddb.list_backups(TableName=filled_table)["BackupSummaries"]]


def test_refusals(ddb, filled_table):
    assert refusal(ddb.create_backup, TableName="no-such-table", BackupName="x-backup") == (
        "TableNotFoundException", "Table not found: no-such-table")
    missing = "arn:aws:dynamodb:us-east-1:000000000000:table/x/backup/01700000000000-0badf00d"
    assert refusal(ddb.describe_backup, BackupArn=missing)[0] == "BackupNotFoundException"
    assert refusal(ddb.restore_table_from_backup, TargetTableName="anything", BackupArn=missing)[0] \
        == "BackupNotFoundException"
    arn = ddb.create_backup(TableName=filled_table, BackupName="refusals")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)
    assert refusal(ddb.restore_table_from_backup, TargetTableName=filled_table, BackupArn=arn) == (
        "TableAlreadyExistsException", f"Table already exists: {filled_table}")
    code, message = refusal(ddb.restore_table_from_backup, TargetTableName=filled_table + "-bad", BackupArn=arn,
                            BillingModeOverride="PAY_PER_REQUEST",
                            ProvisionedThroughputOverride={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert code == "ValidationException" and "PAY_PER_REQUEST" in message
    assert filled_table + "-bad" not in ddb.list_tables()["TableNames"]


def test_kill_9_during_backups_and_restores_leaves_nothing_incomplete(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    ddb = client_for(server.url)
    create_keyed_table(ddb, "big", with_indexes=False)
    put_items(ddb, "big", [{**every_type_item(i), "pad": {"S": "x" * 2000}} for i in range(3000)])
    arns = [ddb.create_backup(TableName="big", BackupName=f"killed-{i}")["BackupDetails"]["BackupArn"]
            for i in range(3)]
    server.kill()
    server = ServerProcess(data).start()
    try:
        ddb = client_for(server.url)
        listed = ddb.list_backups()["BackupSummaries"]
        assert {summary["BackupStatus"] for summary in listed} <= {"AVAILABLE"}
        assert {summary["BackupArn"] for summary in listed} <= set(arns)
        for number, summary in enumerate(listed):
            ddb.restore_table_from_backup(TargetTableName=f"back-{number}", BackupArn=summary["BackupArn"])
            assert wait_table_active(ddb, f"back-{number}")["ItemCount"] == 3000
        for arn in set(arns) - {summary["BackupArn"] for summary in listed}:
            assert refusal(ddb.describe_backup, BackupArn=arn)[0] == "BackupNotFoundException"
        assert not list((data / "backups" / "scratch").glob("*"))
        if listed:
            ddb.restore_table_from_backup(TargetTableName="cut-short", BackupArn=listed[0]["BackupArn"])
    finally:
        server.kill()
    server = ServerProcess(data).start()
    try:
        ddb = client_for(server.url)
        if "cut-short" in ddb.list_tables()["TableNames"]:
            assert wait_table_active(ddb, "cut-short")["ItemCount"] == 3000
    finally:
        server.stop()


def test_a_restore_on_the_leader_appears_on_its_followers(tmp_path):
    cluster = Cluster(tmp_path, follower_count=1).start()
    try:
        leader, follower = client_for(cluster.leader.url), client_for(cluster.followers[0].url)
        create_keyed_table(leader, "source")
        put_items(leader, "source", ITEMS)
        arn = follower.create_backup(TableName="source", BackupName="through-follower")["BackupDetails"]["BackupArn"]
        wait_backup_available(leader, arn)
        follower.restore_table_from_backup(TargetTableName="copy", BackupArn=arn)
        wait_table_active(leader, "copy")
        cluster.wait_caught_up()
        assert follower.describe_table(TableName="copy")["Table"]["TableStatus"] == "ACTIVE"
        assert by_key(scan_all(follower, "copy", consistent=False)) == by_key(ITEMS)
        assert len(scan_all(follower, "copy", "by-g")) == len(ITEMS)
    finally:
        cluster.stop()


def test_jobs_show_in_metrics(ddb, server, filled_table):
    arn = ddb.create_backup(TableName=filled_table, BackupName="measured")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)

    def scrape() -> str | None:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
        finished = 'dynovault_archive_jobs_finished_total{job="backup",outcome="completed"}' in text
        return text if finished and 'dynovault_archive_jobs_running{job="backup"} 0.0' in text else None

    scraped = wait_for(scrape, "the backup job's metrics")
    written = [line for line in scraped.splitlines() if line.startswith('dynovault_archive_items_total{job="backup"}')]
    assert written and float(written[0].split()[-1]) >= len(ITEMS)

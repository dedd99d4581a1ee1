"""Acknowledged writes survive a restart and a real ``kill -9`` of the server."""

from __future__ import annotations

from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for, create_hash_table
from tests.killing import kill_during_writes


def test_data_survives_clean_restart(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    ddb = client_for(server.url)
    create_hash_table(ddb, "kept")
    ddb.put_item(TableName="kept", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    server.stop()
    server.start()
    ddb = client_for(server.url)
    assert ddb.get_item(TableName="kept", Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
    assert ddb.describe_table(TableName="kept")["Table"]["ItemCount"] == 1
    server.stop()


def test_acknowledged_writes_survive_kill_9_mid_stream(tmp_path):
    """Writers run until the server is killed; every write that got a reply is there after."""
    server = ServerProcess(tmp_path / "data").start()
    create_hash_table(client_for(server.url), "crash")

    def write_batch(ddb, worker: int, i: int) -> str:
        key = f"w{worker}-{i}"
        ddb.batch_write_item(RequestItems={"crash": [
            {"PutRequest": {"Item": {"pk": {"S": key}, "part": {"N": str(n)}}}} if n == 0
            else {"PutRequest": {"Item": {"pk": {"S": f"{key}-{n}"}, "part": {"N": str(n)}}}}
            for n in range(3)
        ]})
        return key

    acknowledged = kill_during_writes(server, write_batch)

    server.start()
    ddb = client_for(server.url)
    for key in acknowledged:
        keys = [{"pk": {"S": key}}, {"pk": {"S": f"{key}-1"}}, {"pk": {"S": f"{key}-2"}}]
        found = ddb.batch_get_item(RequestItems={"crash": {"Keys": keys}})["Responses"]["crash"]
        assert len(found) == 3, f"acknowledged batch {key} lost after kill -9"
    count = ddb.describe_table(TableName="crash")["Table"]["ItemCount"]
    assert count >= 3 * len(acknowledged)
    assert count % 3 == 0, "a batch was partly written"
    server.stop()

"""The async path Feast's feature server uses: aiobotocore against a real server."""

from __future__ import annotations

import asyncio

from aiobotocore.session import get_session


def test_aiobotocore_round_trip(server, hash_table):
    async def scenario() -> list[dict]:
        session = get_session()
        async with session.create_client(
            "dynamodb", endpoint_url=server.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ) as client:
            writes = [
                client.put_item(TableName=hash_table, Item={"pk": {"S": f"a{i}"}, "v": {"N": str(i)}})
                for i in range(20)
            ]
            await asyncio.gather(*writes)
            await client.batch_write_item(RequestItems={hash_table: [
                {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(25)
            ]})
            result = await client.batch_get_item(RequestItems={hash_table: {
                "Keys": [{"pk": {"S": f"a{i}"}} for i in range(20)] + [{"pk": {"S": "b0"}}]
            }})
            return result["Responses"][hash_table]

    items = asyncio.run(scenario())
    assert len(items) == 21
    assert sorted(int(i["v"]["N"]) for i in items if "v" in i) == list(range(20))

"""The minimal key-value server: aiohttp + orjson + rocksdict and nothing else.

It answers the benchmark's requests (CreateTable, BatchWriteItem, GetItem, BatchGetItem,
PutItem on a table keyed by a string ``pk``) with what a DynamoDB server cannot do
without: parse the JSON, read or write RocksDB (WAL on, no fsync, as Dynovault's
default), splice stored bytes into the answer. No validation, no capacity, no log record,
no secondary structures, one table. What Dynovault costs beyond it is its DynamoDB
semantics. Run: ``python -m bench.minimal --port 8002 --data-dir DIR``.
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from aiohttp import web
from rocksdict import Options, Rdict

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "DynamoDB_20120810."


class Minimal:
    def __init__(self, data_dir: str) -> None:
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = Rdict(data_dir, options=options)

    @staticmethod
    def _key(key: dict) -> bytes:
        return key["pk"]["S"].encode()

    def _get_item(self, request: dict) -> bytes:
        stored = self.db.get(self._key(request["Key"]))
        return b"{}" if stored is None else b'{"Item":' + stored + b"}"

    def _put_item(self, request: dict) -> bytes:
        item = request["Item"]
        self.db.put(self._key(item), orjson.dumps(item))
        return b"{}"

    def _batch_get_item(self, request: dict) -> bytes:
        (table, spec), = request["RequestItems"].items()
        found = [value for value in self.db.get([self._key(key) for key in spec["Keys"]]) if value is not None]
        return b'{"Responses":{' + orjson.dumps(table) + b":[" + b",".join(found) + b']},"UnprocessedKeys":{}}'

    def _batch_write_item(self, request: dict) -> bytes:
        for writes in request["RequestItems"].values():
            for write in writes:
                self._put_item(write["PutRequest"])
        return b'{"UnprocessedItems":{}}'

    @staticmethod
    def _create_table(request: dict) -> bytes:
        return orjson.dumps({"TableDescription": {"TableName": request["TableName"], "TableStatus": "ACTIVE"}})

    @staticmethod
    def _describe_table(request: dict) -> bytes:
        return orjson.dumps({"Table": {"TableName": request["TableName"], "TableStatus": "ACTIVE"}})

    async def answer(self, request: web.Request) -> web.Response:
        operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        handler = {
            "GetItem": self._get_item, "PutItem": self._put_item, "BatchGetItem": self._batch_get_item,
            "BatchWriteItem": self._batch_write_item, "CreateTable": self._create_table,
            "DescribeTable": self._describe_table,
        }.get(operation)
        if handler is None:
            return web.Response(status=400, body=b'{"__type":"UnknownOperationException"}',
                                headers={"Content-Type": CONTENT_TYPE})
        body = handler(orjson.loads(await request.read()))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    server = Minimal(args.data_dir)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/", server.answer)
    app.router.add_get("/health", health)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()

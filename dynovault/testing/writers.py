"""A writer that knows every node of a cluster, as a client of a failing-over cluster is:
it puts unique keys through whichever node answers and records what was acknowledged."""

from __future__ import annotations

import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=15)


class AnyNodeWriter:
    """Puts ``w<worker>-<n>`` items into ``table`` in a thread until stopped. A refused or
    unanswered write moves on to the next node and is retried there; only an HTTP 200
    counts, and ``acknowledged`` keeps (key, time of the answer, URL of the node that
    answered) for each."""

    def __init__(self, urls: list[str], table: str, worker: int, stop: threading.Event) -> None:
        # Nodes without --credentials-file take any signature.
        self.urls = urls
        self.clients = [boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=_CONFIG,
                                     aws_access_key_id="writer", aws_secret_access_key="writer")
                        for url in urls]
        self.table, self.worker, self.stop = table, worker, stop
        self.acknowledged: list[tuple[str, float, str]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> AnyNodeWriter:
        self.thread.start()
        return self

    def _run(self) -> None:
        node, count = self.worker, 0
        while not self.stop.is_set():
            pk = f"w{self.worker}-{count}"
            item = {"pk": {"S": pk}, "v": {"N": str(count)}}
            try:
                self.clients[node % len(self.clients)].put_item(TableName=self.table, Item=item)
            except (ClientError, BotoCoreError):
                node += 1
                time.sleep(0.02)
                continue
            self.acknowledged.append((pk, time.time(), self.urls[node % len(self.urls)]))
            count += 1

    def join(self) -> None:
        self.thread.join(timeout=60)

"""One module per DynamoDB Streams operation, named after it (``get_records`` serves
``GetRecords``), served on the DynamoDB endpoint under ``DynamoDBStreams_20120810.*``.

They sit apart from ``api/ops`` because they belong to another service model (botocore's
``dynamodbstreams``, which validates their requests); each defines
``async def handle(request: dict, node: Node) -> dict | bytes`` like the DynamoDB ones.
"""

from __future__ import annotations

from dynovault.api.model import STREAMS, operation_names
from dynovault.api.ops import Handler, load_handlers


def load_operations() -> dict[str, Handler]:
    return load_handlers(__path__, __name__, operation_names(STREAMS))

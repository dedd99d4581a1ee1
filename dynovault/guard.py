"""Where a request runs: the one decision every front end (the DynamoDB dispatcher, the
feature write routes) asks of the node before it changes anything.

A guard runs the request here, hands it to the leader unchanged, or runs it here and
holds the answer until enough replicas have it. Replication provides the real guard; a
node without replication (or a read-only process) runs everything here. Front ends name
requests by operation (``PutItem``, ``features:push``) and never learn which it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Forwardable:
    """A request as it arrived, for the leader to answer in our place."""

    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class LeaderAnswer:
    """The leader's HTTP answer to a forwarded request, for the front end to pass on."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Passthrough:
    """What a process that serves only some operations does with the rest: a request for
    an operation not in ``served_here`` goes to ``forward`` as it arrived, before its body
    is parsed, and the answer is passed back (a reader worker and its node's writer)."""

    served_here: frozenset[str]
    forward: Callable[[Forwardable], Awaitable[LeaderAnswer]]


class Guard(Protocol):
    async def __call__(
        self, operation: str, payload: dict[str, Any], run_here: Callable[[], Awaitable[T]], request: Forwardable
    ) -> T | LeaderAnswer: ...


async def run_here(
    operation: str, payload: dict[str, Any], run: Callable[[], Awaitable[T]], request: Forwardable
) -> T | LeaderAnswer:
    """The guard of a node that is its own leader and waits for no replica."""
    return await run()

"""The leader's side: ship the log to followers over WebSockets, serve checkpoints for
bootstrap, track what each follower applied, and hold sync-mode writes until enough
followers acknowledged them."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from dynovault.errors import ServiceUnavailable
from dynovault.replication import checkpoint, lineage
from dynovault.replication.history import History
from dynovault.replication.lag_metrics import ACK_LAG, SYNC_TIMEOUTS, SYNC_WAIT
from dynovault.replication.protocol import (
    CONTROL_MESSAGE_MAX,
    ProtocolError,
    encode_frame,
    lsn_field,
    parse_control,
    parse_hello,
)
from dynovault.signing import PEER_KEY_ID, PEER_PROOF
from dynovault.storage.engine import Store, now_us
from dynovault.storage.replog import LogRecord, lsn_key

log = logging.getLogger(__name__)

FRAME_MAX_RECORDS = 2000
# Frames sent to a follower and not yet acknowledged. Commits made meanwhile wait and leave
# together in the next frame: at low rates every commit ships at once, at high rates frames
# grow instead of multiplying (one socket write and one follower WriteBatch per frame).
FRAMES_IN_FLIGHT = 1
# A frame follows the previous one to the same follower no sooner than this: a lone commit
# ships at once, a stream of commits leaves in frames at most this often, which bounds the
# sends (and follower wake-ups and WriteBatches) per second whatever the write rate.
MIN_FRAME_INTERVAL = 0.001
FRAME_MAX_BYTES = 1024 * 1024
HEARTBEAT_SECONDS = 1.0
PRUNE_WAITERS_ABOVE = 1024
# bytes_behind reads at most this many records and extrapolates beyond, so a scrape stays
# cheap even when a follower is millions of records behind.
BYTES_BEHIND_SCAN_LIMIT = 10_000


@dataclass
class FollowerLink:
    """One connected follower, as the leader sees it."""

    name: str
    ws: web.WebSocketResponse
    sent_lsn: int
    applied_lsn: int
    # The key the follower signed its connection with (None when signatures are not verified).
    key_id: str | None = None
    connected_at: float = field(default_factory=time.time)
    sent_bytes: int = 0
    last_frame_at: float = 0.0
    last_ack_at: float | None = None
    # (last LSN of a sent frame, its commit time in µs), oldest first, until acknowledged.
    unacknowledged: deque[tuple[int, int]] = field(default_factory=deque)
    ack_received: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledged(self, lsn: int) -> None:
        self.applied_lsn = max(self.applied_lsn, lsn)
        self.last_ack_at = time.time()
        now = now_us()
        while self.unacknowledged and self.unacknowledged[0][0] <= lsn:
            _, commit_time_us = self.unacknowledged.popleft()
            ACK_LAG.labels(self.name).observe(max(0, now - commit_time_us) / 1e6)
        self.ack_received.set()

    async def window_open(self) -> None:
        while len(self.unacknowledged) >= FRAMES_IN_FLIGHT:
            self.ack_received.clear()
            await self.ack_received.wait()


class Leader:
    """Serves followers while this node leads. ``store`` is read anew on every use
    because a node's store is replaced when it re-bootstraps."""

    def __init__(self, store: Callable[[], Store], history: Callable[[], History | None],
                 on_newer_epoch: Callable[[int], None], fenced: Callable[[], str | None], sync_replicas: int, sync_timeout: float,
                 scratch_dir: Path | None, checkpoints_at_once: int, checkpoint_write_timeout: float) -> None:
        self._store = store
        self.scratch_dir = scratch_dir
        self._checkpoint_slots = asyncio.Semaphore(checkpoints_at_once)
        self.checkpoint_write_timeout = checkpoint_write_timeout
        self._history = history
        self._on_newer_epoch = on_newer_epoch
        self._fenced = fenced
        self.sync_replicas = sync_replicas
        self.sync_timeout = sync_timeout
        self.links: dict[str, FollowerLink] = {}
        self._commit_signal = asyncio.Event()
        # Sync-mode writes waiting for acknowledgements: a heap of (LSN, arrival, future), so
        # each acknowledgement releases the lowest LSNs without scanning every waiter.
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._arrivals = itertools.count()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.active = False

    # ---- role ------------------------------------------------------------------------

    def activate(self) -> None:
        self.active = True
        self._store().commit_listeners.append(self._committed)

    async def deactivate(self) -> None:
        """Stop leading: drop the commit hook and disconnect every follower."""
        self.active = False
        listeners = self._store().commit_listeners
        if self._committed in listeners:
            listeners.remove(self._committed)
        for link in list(self.links.values()):
            await link.ws.close(message=b"leader stepped down")
        self._fail_waiters(ServiceUnavailable("This node stopped being the leader before the write was replicated"))

    def _committed(self, _lsn: int) -> None:
        if threading.get_ident() == self._loop_thread:
            self._wake_senders()
        else:
            self._loop.call_soon_threadsafe(self._wake_senders)

    def _wake_senders(self) -> None:
        self._commit_signal.set()
        self._commit_signal = asyncio.Event()

    # ---- stream ----------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        # No per-message deflate: it cost a fifth of the leader's CPU under write load, and
        # log frames are mostly item bytes that are already compact JSON.
        # A follower only sends small text messages: anything larger closes the connection
        # before it is buffered.
        ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=CONTROL_MESSAGE_MAX, compress=False)
        await ws.prepare(request)
        try:
            hello = parse_hello(parse_control(await ws.receive_str(timeout=10), "hello"))
        except (ProtocolError, TypeError, TimeoutError) as error:
            await ws.send_json({"type": "refused", "reason": f"not a replication hello: {error}"})
            await ws.close()
            return ws
        key_id = request.get(PEER_KEY_ID)
        answer = self._answer_hello(hello, key_id)
        if PEER_PROOF in request:
            answer["proof"] = request[PEER_PROOF]
        await ws.send_json(answer)
        if answer["type"] != "stream":
            await ws.close()
            return ws
        link = FollowerLink(hello["name"], ws, sent_lsn=hello["lsn"], applied_lsn=hello["lsn"], key_id=key_id)
        previous = self.links.get(link.name)
        if previous is not None:
            await previous.ws.close(message=b"replaced by a new connection")
        self.links[link.name] = link
        log.info("follower connected", extra={"follower": link.name, "from_lsn": link.sent_lsn + 1})
        tasks = [asyncio.create_task(self._send_or_close(link)), asyncio.create_task(self._heartbeat(link))]
        try:
            await self._receive_acks(link)
        finally:
            for task in tasks:
                task.cancel()
            if self.links.get(link.name) is link:
                del self.links[link.name]
            log.info("follower disconnected", extra={"follower": link.name})
        return ws

    def _answer_hello(self, hello: dict, key_id: str | None) -> dict:
        store, history = self._store(), self._history()
        if not self.active or history is None:
            return {"type": "refused", "reason": "this node is not a leader"}
        if self._fenced() is not None:
            return {"type": "refused", "reason": f"this node no longer leads: {self._fenced()}"}
        holder = self.links.get(hello["name"])
        if holder is not None and holder.key_id != key_id:
            return {"type": "refused", "reason": f"follower name {hello['name']!r} is connected under another key"}
        if hello.get("cluster") == history.cluster and hello["epoch"] > history.epoch:
            self._on_newer_epoch(hello["epoch"])
            return {"type": "refused", "reason": f"this leader's epoch {history.epoch} is older than {hello['epoch']}"}
        lsn, theirs = hello["lsn"], hello["history"]
        fresh = lsn == 0 and store.last_lsn > 0
        fell_behind = lsn + 1 < store.oldest_lsn
        diverged = lsn > store.last_lsn or lsn > 0 and (
            theirs is None or not history.holds(theirs, lsn) or not lineage.same_record(store, lsn, hello["tail"])
        )
        if fresh or fell_behind or diverged:
            return {"type": "bootstrap"}
        tail = lineage.fingerprint(store.replog.get(lsn_key(lsn))) if lsn else None
        return {"type": "stream", "history": history.to_json(), "lsn": store.last_lsn, "tail": tail}

    async def _send_or_close(self, link: FollowerLink) -> None:
        """Ship records until cancelled; a failure closes the connection, so the follower
        reconnects instead of waiting on a link that no longer sends."""
        try:
            await self._send(link)
        except (ConnectionError, RuntimeError):
            await link.ws.close()
        except Exception:
            log.exception("replication sender failed", extra={"follower": link.name})
            await link.ws.close()

    async def _send(self, link: FollowerLink) -> None:
        next_lsn = link.sent_lsn + 1
        while True:
            await link.window_open()
            signal = self._commit_signal
            store = self._store()
            if next_lsn > store.last_lsn:
                await signal.wait()
                await asyncio.sleep(max(0.0, link.last_frame_at + MIN_FRAME_INTERVAL - time.monotonic()))
                continue
            entries = self._read_frame(store, next_lsn)
            if not entries:
                await link.ws.send_json({"type": "bootstrap"})
                await link.ws.close()
                return
            frame = encode_frame(store.last_lsn, entries)
            last_lsn, last_raw = entries[-1]
            # Recorded before sending: the acknowledgement may arrive while the send
            # waits for the socket to drain.
            link.unacknowledged.append((last_lsn, LogRecord.decode(last_raw).commit_time_us))
            link.sent_lsn = last_lsn
            link.sent_bytes += len(frame)
            link.last_frame_at = time.monotonic()
            await link.ws.send_bytes(frame)
            next_lsn = last_lsn + 1

    @staticmethod
    def _read_frame(store: Store, from_lsn: int) -> list[tuple[int, bytes]]:
        """Records from ``from_lsn`` on, whole commits only (the log holds a commit whole:
        it was written in one batch), or nothing when retention already dropped it."""
        entries: list[tuple[int, bytes]] = []
        size = 0
        for lsn, raw in store.iterate_log(from_lsn):
            if lsn != from_lsn + len(entries):
                break
            entries.append((lsn, raw))
            size += len(raw)
            # A frame ends at the end of a commit, which the follower applies whole.
            full = len(entries) >= FRAME_MAX_RECORDS or size >= FRAME_MAX_BYTES
            if full and not LogRecord.continues_commit(raw):
                break
        return entries

    async def _heartbeat(self, link: FollowerLink) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await link.ws.send_json({"type": "heartbeat", "lsn": self._store().last_lsn})

    async def _receive_acks(self, link: FollowerLink) -> None:
        """Count acknowledgements, each capped at the last LSN actually sent on this link:
        a follower cannot acknowledge what it never received. A malformed message ends
        the connection."""
        async for message in link.ws:
            if message.type is not WSMsgType.TEXT:
                break
            try:
                lsn = lsn_field(parse_control(message.data, "ack"))
            except ProtocolError as error:
                log.warning("follower sent a malformed message", extra={"follower": link.name, "error": str(error)})
                break
            link.acknowledged(min(lsn, link.sent_lsn))
            self._release_waiters()

    # ---- sync mode -------------------------------------------------------------------

    def replicated_lsn(self) -> int:
        """The highest LSN that at least ``sync_replicas`` followers applied."""
        applied = sorted((link.applied_lsn for link in self.links.values()), reverse=True)
        return applied[self.sync_replicas - 1] if len(applied) >= self.sync_replicas else 0

    async def wait_replicated(self, lsn: int) -> None:
        """Return once ``sync_replicas`` followers applied ``lsn``; refuse after the timeout."""
        if self.replicated_lsn() >= lsn:
            return
        started = time.perf_counter()
        future = self._loop.create_future()
        heapq.heappush(self._waiters, (lsn, next(self._arrivals), future))
        try:
            await asyncio.wait_for(future, self.sync_timeout)
        except TimeoutError:  # wait_for cancelled the future; the heap drops it when its turn comes
            SYNC_TIMEOUTS.inc()
            self._prune_waiters()
            raise ServiceUnavailable(
                f"The write was committed on the leader, but fewer than {self.sync_replicas} replicas "
                f"acknowledged it within {self.sync_timeout:g} seconds ({len(self.links)} connected)"
            )
        SYNC_WAIT.observe(time.perf_counter() - started)

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        replicated = self.replicated_lsn()
        while self._waiters and self._waiters[0][0] <= replicated:
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    def _prune_waiters(self) -> None:
        """Drop timed-out waiters once they are many: with no follower acknowledging, none
        would ever reach the top of the heap."""
        if len(self._waiters) > PRUNE_WAITERS_ABOVE:
            self._waiters = [waiter for waiter in self._waiters if not waiter[2].done()]
            heapq.heapify(self._waiters)

    def _fail_waiters(self, error: Exception) -> None:
        waiters, self._waiters = self._waiters, []
        for _, _, future in waiters:
            if not future.done():
                future.set_exception(error)

    # ---- checkpoint ------------------------------------------------------------------

    async def checkpoint(self, request: web.Request) -> web.StreamResponse:
        """A consistent copy of this node, in ``checkpoint``'s wire format; at most
        ``checkpoints_at_once`` at a time, each removed as soon as its reader stalls."""
        if self._checkpoint_slots.locked():
            return web.json_response(
                {"message": "too many checkpoints in progress; retry later"}, status=503, headers={"Retry-After": "5"}
            )
        async with self._checkpoint_slots:
            store = self._store()
            scratch = self.scratch_dir or store.path.parent
            scratch.mkdir(parents=True, exist_ok=True)
            directory = scratch / f".{store.path.name}.checkpoint-{uuid.uuid4().hex}"
            store.create_checkpoint(directory)
            try:
                response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
                await response.prepare(request)
                await checkpoint.send(response, checkpoint.checkpoint_files(directory), self.checkpoint_write_timeout)
                return response
            except TimeoutError:
                log.warning("checkpoint reader stopped reading; connection dropped", extra={"remote": request.remote})
                if request.transport is not None:
                    request.transport.abort()
                return response
            finally:
                await asyncio.to_thread(shutil.rmtree, directory, True)

    # ---- status ----------------------------------------------------------------------

    def follower_status(self) -> list[dict]:
        store = self._store()
        return [self._link_status(store, link) for link in self.links.values()]

    @staticmethod
    def _link_status(store: Store, link: FollowerLink) -> dict:
        distance = max(0, store.last_lsn - link.applied_lsn)
        return {
            "name": link.name,
            "state": "streaming",
            "connected_at": link.connected_at,
            "sent_lsn": link.sent_lsn,
            "applied_lsn": link.applied_lsn,
            "lsn_distance": distance,
            "bytes_behind": _bytes_behind(store, link.applied_lsn, distance),
            "seconds_behind": _seconds_behind(store, link.applied_lsn, distance),
            "sent_bytes": link.sent_bytes,
            "last_ack_at": link.last_ack_at,
        }


def _bytes_behind(store: Store, applied_lsn: int, distance: int) -> int:
    if distance == 0:
        return 0
    counted, size = 0, 0
    for _, raw in store.iterate_log(applied_lsn + 1):
        counted += 1
        size += len(raw)
        if counted >= BYTES_BEHIND_SCAN_LIMIT:
            break
    return size if counted == 0 or counted >= distance else round(size / counted * distance)


def _seconds_behind(store: Store, applied_lsn: int, distance: int) -> float:
    if distance == 0:
        return 0.0
    record = store.log_record(applied_lsn + 1)
    if record is None:
        record = store.log_record(store.oldest_lsn)
    return 0.0 if record is None else max(0.0, (now_us() - record.commit_time_us) / 1e6)

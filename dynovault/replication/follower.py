"""The follower's side: stream the leader's log from our own last LSN, apply each frame
atomically, acknowledge, and bootstrap from a checkpoint when the leader says our log
cannot continue (new node, fell behind retention, or diverged after a failover)."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson
from aiohttp import WSMsgType

from dynovault.replication import checkpoint, discarded, lineage
from dynovault.replication import history as history_store
from dynovault.replication.history import History
from dynovault.replication.lag_metrics import (
    APPLY_LAG,
    BOOTSTRAPS,
    BYTES_APPLIED,
    RECORDS_APPLIED,
)
from dynovault.replication.protocol import (
    CHECKPOINT_PATH,
    DATA_FRAME_MAX,
    STREAM_PATH,
    decode_frame,
    lsn_field,
    parse_control,
)
from dynovault.signing import PROOF_HEADER, PeerCredentials, SignedHeaders
from dynovault.storage.engine import Store, now_us

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


class BootstrapRequired(Exception):
    """The leader cannot continue our log: fetch a checkpoint."""


class Follower:
    """Keeps this node's store a copy of the leader's. ``store`` and ``replace_store``
    give access to the node's store, which a bootstrap swaps for a new one. Checkpoints
    download into ``scratch_dir`` (default: beside the data), which must be on the data's
    volume so the finished download moves into place without a copy."""

    def __init__(self, leader_url: str, name: str, session: aiohttp.ClientSession,
                 store: Callable[[], Store], replace_store: Callable[[Path], None],
                 adopt_history: Callable[[History], None], scratch_dir: Path | None = None,
                 credentials: PeerCredentials | None = None, last_heard: float | None = None) -> None:
        self.leader_url = leader_url
        self.scratch_dir = scratch_dir
        self.credentials = credentials
        # Whether the leader at leader_url answered with proof of the cluster's credentials.
        self.proven = False
        self.name = name
        self._session = session
        self._store = store
        self._replace_store = replace_store
        self._adopt_history = adopt_history
        self.connected = False
        self.leader_lsn: int | None = None
        self.last_applied_commit_us: int | None = None
        self.last_error: str | None = None
        # When a leader last spoke to us (a record, a heartbeat, a stream answer): the lag of
        # a follower that lost its leader grows from here.
        self.last_heard = time.time() if last_heard is None else last_heard
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.connected = False

    # ---- connection loop -------------------------------------------------------------

    async def _run(self) -> None:
        """Stream forever; after a failure wait with jittered exponential backoff."""
        backoff = BACKOFF_FIRST
        while True:
            try:
                await self._stream()
            except BootstrapRequired:
                if await self._attempt(self._bootstrap()):
                    backoff = BACKOFF_FIRST
                    continue
            except Exception as error:  # any failure of one session: reconnect and resume from our LSN
                self._failed(error)
            if self.connected:  # it streamed before it broke: the leader was fine until now
                backoff = BACKOFF_FIRST
            self.connected = False
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _attempt(self, step: Awaitable[None]) -> bool:
        try:
            await step
        except Exception as error:
            self._failed(error)
            return False
        return True

    def _failed(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        log.warning("replication interrupted", extra={"error": self.last_error})

    async def _stream(self) -> None:
        store = self._store()
        known = history_store.load(store)
        hello = {
            "type": "hello",
            "name": self.name,
            "cluster": known.cluster if known else None,
            "epoch": known.epoch if known else 0,
            "lsn": store.last_lsn,
            "history": known.to_json() if known else None,
            "tail": lineage.tail_of(store),
        }
        url = self.leader_url + STREAM_PATH
        signed = self._signed("GET", url)
        async with self._session.ws_connect(
            url, heartbeat=5.0, max_msg_size=DATA_FRAME_MAX, compress=0, headers=signed and signed.headers
        ) as ws:
            await ws.send_json(hello)
            answer = parse_control(await ws.receive_str(timeout=10), "stream", "bootstrap", "refused")
            self._check_proven(signed, answer.get("proof"))
            if answer["type"] == "bootstrap":
                raise BootstrapRequired()
            if answer["type"] != "stream":
                raise ConnectionError(f"leader refused: {str(answer.get('reason'))[:500]}")
            leader_history = History.from_json(answer["history"])
            _check_continuable(known, leader_history, store.last_lsn)
            if store.last_lsn and answer.get("tail") is not None and answer["tail"] != hello["tail"]:
                raise BootstrapRequired()
            self._adopt_history(leader_history)
            self.leader_lsn = lsn_field(answer)
            last = store.log_record(store.last_lsn)
            self.last_applied_commit_us = last.commit_time_us if last else None
            self.connected = True
            self.last_heard = time.time()
            self.last_error = None
            log.info("streaming from leader", extra={"leader": self.leader_url, "from_lsn": store.last_lsn + 1})
            await self._consume(ws)

    async def _consume(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is WSMsgType.BINARY:
                await ws.send_str(orjson.dumps({"type": "ack", "lsn": self._apply(message.data)}).decode())
            elif message.type is WSMsgType.TEXT:
                control = parse_control(message.data, "bootstrap", "heartbeat")
                if control["type"] == "bootstrap":
                    raise BootstrapRequired()
                self.leader_lsn = lsn_field(control)
                self.last_heard = time.time()
            else:
                break
        raise ConnectionError("leader closed the replication stream")

    def _apply(self, frame: bytes) -> int:
        leader_lsn, records = decode_frame(frame)
        store = self._store()
        store.apply(records)
        now = now_us()
        for _, record in records:
            APPLY_LAG.observe(max(0, now - record.commit_time_us) / 1e6)
        RECORDS_APPLIED.inc(len(records))
        BYTES_APPLIED.inc(len(frame))
        self.leader_lsn = max(self.leader_lsn or 0, leader_lsn)
        self.last_heard = time.time()
        if records:
            self.last_applied_commit_us = records[-1][1].commit_time_us
        return store.last_lsn

    # ---- bootstrap -------------------------------------------------------------------

    async def _bootstrap(self) -> None:
        """Download the leader's checkpoint into a scratch directory and swap it in only
        once it is complete and checked: a failed bootstrap leaves our data as it was."""
        store = self._store()
        scratch = self.scratch_dir or store.path.parent
        scratch.mkdir(parents=True, exist_ok=True)
        # What an earlier bootstrap killed mid-download left behind.
        for leftover in scratch.glob(f".{store.path.name}.bootstrap-*"):
            await asyncio.to_thread(shutil.rmtree, leftover, True)
        target = scratch / f".{store.path.name}.bootstrap-{uuid.uuid4().hex}"
        log.warning("bootstrapping from the leader's checkpoint", extra={"leader": self.leader_url})
        try:
            downloaded = await self._download_checkpoint(target)
            known = history_store.load(store)
            _check_replaceable(known, downloaded)
            given_up = await asyncio.to_thread(lineage.records_not_in, store, known, target, downloaded)
            discarded.carry_over(store.path, target)
            discarded.keep(target, given_up, shown_under=store.path, leader_url=self.leader_url)
            self._replace_store(target)
            BOOTSTRAPS.inc()
        finally:
            if target.exists():
                await asyncio.to_thread(shutil.rmtree, target, True)

    async def _download_checkpoint(self, target: Path) -> History:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        url = self.leader_url + CHECKPOINT_PATH
        signed = self._signed("GET", url)
        async with self._session.get(url, timeout=timeout, headers=signed and signed.headers) as reply:
            reply.raise_for_status()
            self._check_proven(signed, reply.headers.get(PROOF_HEADER))
            return await checkpoint.receive(reply.content, target)

    # ---- peer authentication ---------------------------------------------------------

    def _signed(self, method: str, url: str) -> SignedHeaders | None:
        return None if self.credentials is None else self.credentials.sign(method, url)

    def _check_proven(self, signed: SignedHeaders | None, answer_proof: object) -> None:
        """With credentials, only a leader that holds them is one of our cluster: anything
        else at that address gets neither our log position nor a say over our data."""
        if signed is not None and not signed.proven_by(answer_proof):
            raise ConnectionError(f"the leader at {self.leader_url} did not prove it holds this cluster's credentials")
        self.proven = True

    # ---- status ----------------------------------------------------------------------

    def lag_seconds(self) -> float:
        """Age of the last applied commit while the leader is known to be ahead, else 0:
        an upper bound of how stale reads here are. Without a leader, the time since one
        last spoke to us, which grows until one does again."""
        if not self.connected:
            return max(0.0, time.time() - self.last_heard)
        store = self._store()
        if self.leader_lsn is None or store.last_lsn >= self.leader_lsn or self.last_applied_commit_us is None:
            return 0.0
        return max(0.0, (now_us() - self.last_applied_commit_us) / 1e6)

    def status(self) -> dict:
        last_lsn = self._store().last_lsn
        return {
            "leader": self.leader_url,
            "connected": self.connected,
            "leader_lsn": self.leader_lsn,
            "lag_lsn": None if self.leader_lsn is None else max(0, self.leader_lsn - last_lsn),
            "lag_seconds": self.lag_seconds(),
            "last_error": self.last_error,
        }


def _check_continuable(known: History | None, leader_history: History, last_lsn: int) -> None:
    """Our own check of what the leader decided: never take records from a leader of an
    older epoch, and never append its records to a log it does not contain."""
    if known is None or last_lsn == 0:
        return
    if leader_history.epoch < known.epoch:
        raise ConnectionError(f"leader's epoch {leader_history.epoch} is older than ours ({known.epoch})")
    if not leader_history.holds(known, last_lsn):
        raise BootstrapRequired()


def _check_replaceable(known: History | None, downloaded: History) -> None:
    """A checkpoint of our own cluster from an older epoch than ours comes from a replaced
    leader: taking it would drop writes the cluster acknowledged since."""
    if known is not None and downloaded.cluster == known.cluster and downloaded.epoch < known.epoch:
        raise checkpoint.CheckpointRefused(
            f"the checkpoint's epoch {downloaded.epoch} is older than ours ({known.epoch})"
        )

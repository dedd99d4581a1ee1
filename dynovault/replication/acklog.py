"""An audit trail of acknowledgements: one line ``epoch LSN unix-time`` per write a node
acknowledged, appended with one unbuffered write so a ``kill -9`` loses no line of an
answer already sent. Comparing the trails of every node shows whether two nodes ever
acknowledged writes over the same stretch of time under different leaders."""

from __future__ import annotations

import os
import time
from pathlib import Path


class AckLog:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(self, epoch: int, lsn: int) -> None:
        os.write(self._fd, f"{epoch} {lsn} {time.time():.6f}\n".encode())

    def close(self) -> None:
        os.close(self._fd)

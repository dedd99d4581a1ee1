"""The change history of tables with point-in-time recovery: every item change of such a
table, kept in its own column family for as long as recovery needs it, whatever the
replication log's retention drops.

An entry's key is ``column family | LSN`` (so one table's history is one prefix, in commit
order) and its value is the change's encoded log record (its commit time, key and stored
value). Entries are staged with the change in its WriteBatch, so a follower applying the
leader's log keeps the same history, and a crash never separates a change from its entry.
What part of the history is still needed is decided above storage, which trims it.
"""

from __future__ import annotations

from dynovault.storage.keycodec import after_prefix
from dynovault.storage.replog import LSN

HISTORY_CF = "history"
# The table description member holding the point-in-time recovery setting: absent or
# {"PointInTimeRecoveryStatus": "DISABLED"} when off, else ENABLED with its
# RecoveryPeriodInDays.
PITR_MEMBER = "PointInTimeRecoveryDescription"


def keeps_history(description: dict) -> bool:
    return (description.get(PITR_MEMBER) or {}).get("PointInTimeRecoveryStatus") == "ENABLED"


def history_key(column_family: str, lsn: int) -> bytes:
    return column_family.encode() + LSN.pack(lsn)


def history_range(column_family: str) -> tuple[bytes, bytes]:
    """The key range of one table's whole history."""
    prefix = column_family.encode()
    return prefix, after_prefix(prefix)


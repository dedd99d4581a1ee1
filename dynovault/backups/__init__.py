"""Backups, point-in-time recovery, exports and imports: the long work done on whole
tables, beside the table service and above it (restores and imports create tables through
it, and write their items through the store's normal commit path, so followers have them).

Each job runs in the background (``jobs``): on the event loop a chunk at a time, and off it
wherever it reads or writes files; its state is a JSON record written atomically, so what a
Describe call answers survives restarts and a job cut short is never taken for complete.
"""

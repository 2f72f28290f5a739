"""A job's sign of life, written by a thread while the job runs (shared by runs, rankings and weights mirrors).

The reapers presume a job whose heartbeat stopped dead. Beating from a thread, not only with progress, keeps a
phase without progress (building a model, scanning data, hashing a large download) from being mistaken for a dead
worker; the thread dies with its process, so a killed job stops beating at once.
"""

import logging
import threading

from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)


class RowHeartbeat:
    """Sets `heartbeat` to now on `rows` (the job's row while this execution owns it) every `interval` seconds,
    for as long as the `with` block runs."""

    def __init__(self, *, rows: QuerySet, interval: float, label: str):
        self.rows, self.interval, self.label = rows, interval, label
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{label}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.rows.update(heartbeat=timezone.now())
                except DatabaseError:  # briefly away: the next beat reconnects and tries again
                    logger.warning("%s: heartbeat not written", self.label, exc_info=True)
                    connection.close_if_unusable_or_obsolete()
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> "RowHeartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

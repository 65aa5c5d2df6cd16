"""``COPY … TO STDOUT`` as a stream of blocks, read by a helper thread.

PostgreSQL writes the rows while this process compresses and hashes the previous blocks: the
reading thread spends its time waiting on the socket and the writer's time goes to zlib and
hashlib, all three of which let go of the GIL, so the two sides overlap instead of taking turns.
The thread only touches the psycopg cursor it is given; the caller must not use that connection
until the stream is exhausted or closed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

BLOCK_BYTES = 256 * 1024
QUEUED_BLOCKS = 8
_DONE = object()


class CopyOut:
    """Iterate for the output of ``statement`` in blocks of about 256 KiB (a ``prefix`` goes
    first); ``rows`` holds the number of rows copied once the iteration has finished."""

    def __init__(self, cursor, statement: str, params: Sequence = (), prefix: bytes = b""):
        self._cursor = cursor  # a psycopg cursor (Django's ``cursor.cursor``)
        self._statement = statement
        self._params = params
        self._prefix = prefix
        self._blocks: queue.Queue = queue.Queue(maxsize=QUEUED_BLOCKS)
        self._stopped = threading.Event()
        self.rows = 0

    def __iter__(self) -> Iterator[bytes]:
        reader = threading.Thread(target=self._read, name="pack-copy-out", daemon=True)
        reader.start()
        try:
            while (block := self._blocks.get()) is not _DONE:
                if isinstance(block, BaseException):
                    raise block
                yield block
        finally:
            self._stopped.set()
            while reader.is_alive():  # let a reader blocked on a full queue see the stop
                try:
                    self._blocks.get(timeout=0.05)
                except queue.Empty:
                    pass
            reader.join()

    def _read(self) -> None:
        try:
            buffer = bytearray(self._prefix)
            with self._cursor.copy(self._statement, self._params) as copy:
                for row in copy:
                    buffer += row
                    if len(buffer) >= BLOCK_BYTES:
                        if not self._put(bytes(buffer)):
                            return
                        buffer.clear()
            self.rows = max(self._cursor.rowcount, 0)
            if buffer and not self._put(bytes(buffer)):
                return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(exc)

    def _put(self, item) -> bool:
        """Queue ``item`` unless the consumer has stopped; whether it was queued."""
        while not self._stopped.is_set():
            try:
                self._blocks.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

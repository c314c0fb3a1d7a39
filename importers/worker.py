"""The reader process of a parallel import:
``python -m importers.worker FILE NAME TODAY ROWS ENCODING`` (ENCODING empty: detect it).

Reads and validates the delivery and writes validated chunks to stdout as pickles, one per
chunk, for the importing process to load. The pipe is the only channel: a writer thread sends
the chunks while the next ones are validated, at most ``AHEAD`` of them waiting (memory stays
bounded; one slow chunk on either side does not stall the other), and when the importing
process dies the pipe breaks and the worker ends with it.
"""

from __future__ import annotations

import gc
import pickle
import sys
import threading
from datetime import date
from pathlib import Path
from queue import Queue
from typing import Any, BinaryIO

from registry.errors import DomainError

AHEAD = 3  # chunks validated and waiting for the pipe


class _Sender:
    """Pickles items here and writes them to ``out`` in a thread, through a bounded queue."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.queue: Queue[bytes | None] = Queue(maxsize=AHEAD)
        self.broken = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.broken.is_set():
                continue  # drain: the reader is gone
            try:
                self.out.write(data)
                self.out.flush()
            except BrokenPipeError:
                self.broken.set()

    def send(self, item: Any) -> None:
        """Queue an item; raises BrokenPipeError once the importing process is gone."""
        if self.broken.is_set():
            raise BrokenPipeError
        self.queue.put(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        """Send what is queued and stop the thread."""
        self.queue.put(None)
        self.thread.join()
        if self.broken.is_set():
            raise BrokenPipeError


def main(argv: list[str]) -> int:
    """Validate the file and stream the chunks; returns the exit code."""
    from importers.pipeline import LOAD_GC_THRESHOLD, _chunks, _pack, _validate_chunk
    from importers.readers import open_source
    from importers.rows import RowValidator

    gc.freeze()  # see importers.pipeline.few_collections
    gc.set_threshold(*LOAD_GC_THRESHOLD)
    path, name, today, chunk_rows, encoding = argv
    sender = _Sender(sys.stdout.buffer)
    try:
        try:
            with open_source(Path(path), name, encoding or None) as source:
                validator = RowValidator(date.fromisoformat(today))
                for chunk in _chunks(source.records, int(chunk_rows)):
                    sender.send(("chunk", _pack(_validate_chunk(chunk, validator), validator.today)))
            sender.send(("done", None))
        except BrokenPipeError:
            raise
        except DomainError as exc:
            sender.send(("domain_error", (exc.message, exc.code, exc.errors)))
        except Exception as exc:
            sender.send(("error", f"{type(exc).__name__}: {exc}"))
        sender.close()
    except BrokenPipeError:
        return 1  # the importing process is gone
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

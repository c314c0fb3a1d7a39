"""The reader process of a parallel import:
``python -m importers.worker FILE NAME TODAY ROWS ENCODING`` (ENCODING empty: detect it).

Reads and validates the delivery and writes validated chunks to stdout as pickles, one per
chunk, for the importing process to load. The pipe is the only channel: its small buffer
keeps the worker at most a chunk ahead (memory stays bounded), and when the importing
process dies the pipe breaks and the worker ends with it.
"""

from __future__ import annotations

import gc
import pickle
import sys
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from registry.errors import DomainError


def _send(out: BinaryIO, item: Any) -> None:
    pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def main(argv: list[str]) -> int:
    """Validate the file and stream the chunks; returns the exit code."""
    from importers.pipeline import _chunks, _pack, _validate_chunk
    from importers.readers import open_source
    from importers.rows import RowValidator

    gc.freeze()  # see importers.pipeline.few_collections
    gc.set_threshold(100_000, 50, 100)

    path, name, today, chunk_rows, encoding = argv
    out = sys.stdout.buffer
    try:
        with open_source(Path(path), name, encoding or None) as source:
            validator = RowValidator(date.fromisoformat(today))
            for chunk in _chunks(source.records, int(chunk_rows)):
                _send(out, ("chunk", _pack(_validate_chunk(chunk, validator), validator.today)))
        _send(out, ("done", None))
    except BrokenPipeError:
        return 1  # the importing process is gone
    except DomainError as exc:
        _send(out, ("domain_error", (exc.message, exc.code, exc.errors)))
    except Exception as exc:
        _send(out, ("error", f"{type(exc).__name__}: {exc}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

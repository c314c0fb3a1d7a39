"""Deliveries in, batches out: read, validate and load in chunks, in one transaction.

All accepted rows of a batch commit together with the batch record and its rejections, so a
crash, an error or a kill halfway leaves nothing of the batch behind, and delivering the same
file again afterwards completes it. A batch that failed is recorded afterwards, in a
transaction of its own, with status ``failed`` and the error, so the agency can see it.

Every row is accounted for: ``rows == inserted + updated + unchanged + rejected``.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.readers import Source, json_source, open_source
from importers.rows import RowValidator
from importers.template import check_columns
from registry import clock
from registry.agencies import get_agency
from registry.audit import record_event
from registry.batches import ImportBatch, Rejection, add_rejections, start_batch, summary
from registry.db import commit_big
from registry.entities import EntityClaim, Ident, NewEntities, index_new_entities
from registry.errors import ValidationFailed
from registry.listings import run_rules
from registry.penalties import DecisionRecord, load_decisions, stored_values

log = logging.getLogger("xinyong.import")
CHUNK_ROWS = 5000
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this, starting a worker costs more than it saves
Progress = Callable[[int], None]


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _chunks(records: Iterable[tuple[int, dict[str, Any]]], size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_file(
    *,
    engine: Engine,
    path: Path,
    agency_code: str,
    principal: str,
    file_name: str | None = None,
    progress: Progress | None = None,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Import a delivery file; returns the batch summary (CONTRACT.md fields and more).

    Large CSV and XLSX files are read and validated in a worker process while this process
    loads the previous chunk, so both cores work; ``parallel`` forces the choice (default:
    files over ``PARALLEL_MIN_BYTES``).
    """
    sha256, size = file_digest(path)
    with open_source(path, file_name or path.name) as source:
        if source.format != "json":
            check_columns(set(source.header.positions))
        use_worker = source.format != "json" and (size >= PARALLEL_MIN_BYTES if parallel is None else parallel)
        if use_worker:
            source.records = iter(())  # the worker reads the file itself
            chunks: Iterator[Loadable] = _worker_chunks(path, file_name or path.name, clock.today(), source.encoding)
        else:
            chunks = _inline_chunks(source.records, RowValidator(clock.today()))
        return _run(
            engine=engine,
            source=source,
            chunks=chunks,
            agency_code=agency_code,
            principal=principal,
            file_name=file_name or path.name,
            sha256=sha256,
            size=size,
            progress=progress,
        )


def import_records(*, engine: Engine, payload: Any, agency_code: str, principal: str) -> dict[str, Any]:
    """Import JSON records (``{"records": [...]}`` or a list) posted by an integration."""
    import json

    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    source = json_source(payload)
    return _run(
        engine=engine,
        source=source,
        chunks=_inline_chunks(source.records, RowValidator(clock.today())),
        agency_code=agency_code,
        principal=principal,
        file_name=None,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        progress=None,
    )


Chunk = tuple[int, list[DecisionRecord], list[Rejection]]  # rows read, valid records, rejections
# A chunk as the reader process sends it: rows read, rejections, per valid record its head
# (row, digest, name, kind, seen_on, scheme, value, scheme, value, …) and its stored values
# (registry.penalties.stored_values), and the day those were prepared for. Plain tuples of
# text and numbers unpickle several times faster than the records themselves.
Packed = tuple[int, list[Rejection], list[tuple[Any, ...]], list[tuple[Any, ...]], date]
Loadable = tuple[int, list[DecisionRecord], list[Rejection], list[tuple[Any, ...]] | None, date | None]


def _validate_chunk(chunk: list[tuple[int, dict[str, Any]]], validator: RowValidator) -> Chunk:
    good: list[DecisionRecord] = []
    bad: list[Rejection] = []
    for rowno, raw in chunk:
        outcome = validator.validate(rowno, raw)
        if isinstance(outcome, DecisionRecord):
            good.append(outcome)
        else:
            bad.extend(outcome)
    return len(chunk), good, bad


def _pack(chunk: Chunk, delivered_on: date) -> Packed:
    count, good, bad = chunk
    heads = [
        (
            r.row,
            r.digest,
            r.claim.name,
            r.claim.kind,
            r.claim.seen_on,
            *(x for i in r.claim.idents for x in (i.scheme, i.value)),
        )
        for r in good
    ]
    # the validator's records always carry their values
    return count, bad, heads, [stored_values(r.values or {}, delivered_on) for r in good], delivered_on


def _unpack(packed: Packed) -> Loadable:
    count, bad, heads, stored, delivered_on = packed
    good = []
    for (row, digest, name, kind, seen_on, *flat), plain in zip(heads, stored, strict=True):
        idents = (Ident(*flat),) if len(flat) == 2 else tuple(map(Ident, flat[::2], flat[1::2]))
        claim = EntityClaim(name=name, idents=idents, kind=kind, seen_on=seen_on)
        good.append(DecisionRecord(row=row, claim=claim, values=None, digest=digest, number=plain[0]))
    return count, good, bad, stored, delivered_on


def _inline_chunks(records: Iterable[tuple[int, dict[str, Any]]], validator: RowValidator) -> Iterator[Loadable]:
    for chunk in _chunks(records, CHUNK_ROWS):
        yield (*_validate_chunk(chunk, validator), None, None)


def _worker_chunks(path: Path, name: str, today: date, encoding: str | None) -> Iterator[Loadable]:
    """Chunks validated by a worker process (``importers.worker``) reading the same file."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "importers.worker",
                str(path),
                name,
                today.isoformat(),
                str(CHUNK_ROWS),
                encoding or "",
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        try:
            while True:
                try:
                    kind, payload = pickle.load(process.stdout)
                except EOFError:
                    process.wait()
                    errors.seek(0)
                    tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:]
                    raise RuntimeError(f"the reader process ended early (exit {process.returncode}): {tail}") from None
                if kind == "chunk":
                    yield _unpack(payload)
                elif kind == "done":
                    return
                elif kind == "domain_error":
                    message, code, field_errors = payload
                    raise ValidationFailed(message, code=code, errors=field_errors)
                else:
                    raise RuntimeError(f"reading the file failed: {payload}")
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()


# Collector thresholds while loading: gen0 every 100,000 allocations rather than 700, older
# generations almost never; instead a full sweep every SWEEP_CHUNKS chunks frees the garbage
# that outlived the young generations (it would otherwise pile up, chunk after chunk).
LOAD_GC_THRESHOLD = (100_000, 50, 100)
SWEEP_CHUNKS = 10


class _Collecting:
    loads = 0  # loads running in this process
    threshold = gc.get_threshold()
    lock = threading.Lock()


@contextmanager
def few_collections() -> Iterator[None]:
    """Collect garbage rarely while loading: a load makes millions of small objects that live
    for one chunk, and the default thresholds would sweep the growing heap again and again
    (about a quarter of the loading process's time). Objects alive before are frozen, so the
    sweeps that remain skip them. The first of concurrent loads changes the settings, the last
    restores them."""
    with _Collecting.lock:
        if _Collecting.loads == 0:
            _Collecting.threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*LOAD_GC_THRESHOLD)
        _Collecting.loads += 1
    try:
        yield
    finally:
        with _Collecting.lock:
            _Collecting.loads -= 1
            if _Collecting.loads == 0:
                gc.set_threshold(*_Collecting.threshold)
                gc.unfreeze()


def _run(
    *,
    engine: Engine,
    source: Source,
    chunks: Iterator[Loadable],
    agency_code: str,
    principal: str,
    file_name: str | None,
    sha256: str,
    size: int,
    progress: Progress | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    rows = inserted = updated = unchanged = rejected = 0
    with few_collections(), Session(engine, expire_on_commit=False) as session:
        agency = get_agency(session=session, code=agency_code)
        assert agency.id is not None
        batch = start_batch(
            session=session,
            agency_id=agency.id,
            principal=principal,
            fmt=source.format,
            file_name=file_name,
            sha256=sha256,
            size_bytes=size,
            encoding=source.encoding,
        )
        assert batch.id is not None
        try:
            seen: dict[int, int] = {}
            touched: set[int] = set()
            created = NewEntities()  # their search postings are built once, after the last chunk
            for number, (count, good, bad, stored, stored_on) in enumerate(chunks, start=1):
                if number % SWEEP_CHUNKS == 0:
                    gc.collect()  # the rare full sweep (see few_collections)
                loaded = load_decisions(
                    session=session,
                    agency_id=agency.id,
                    batch_id=batch.id,
                    records=good,
                    seen=seen,
                    stored=stored,
                    stored_on=stored_on,
                    deferred=created,
                )
                add_rejections(session=session, batch_id=batch.id, rejections=bad + loaded.rejections)
                rows += count
                inserted += loaded.inserted
                updated += loaded.updated
                unchanged += loaded.unchanged
                touched |= loaded.entity_ids
                rejected += len({r.row for r in bad}) + len(loaded.rejections)
                if progress is not None:
                    progress(count)
            index_new_entities(session=session, entities=created)
            _propose_listings(session, touched, principal)
            _finish(batch, rows, inserted, updated, unchanged, rejected, source.ignored_columns, started)
            session.add(batch)
            result = summary(batch)
            record_event(
                session=session,
                principal=principal,
                action="import",
                target=agency_code,
                detail={k: result[k] for k in ("batch_id", "rows", "inserted", "updated", "unchanged", "rejected")},
            )
            commit_big(session)  # the WAL of a big import is emptied behind it (SQLite)
        except BaseException as exc:
            session.rollback()
            _record_failure(engine, batch, principal, agency_code, rows, exc, started)
            raise
    log.info("batch %s of %s: %s", result["batch_id"], agency_code, {k: result[k] for k in ("rows", "rejected")})
    return result


def _propose_listings(session: Session, touched: set[int], principal: str) -> None:
    """Run the blacklist rules for the entities whose decisions this batch inserted or
    changed, in its transaction (an unchanged re-delivery runs nothing)."""
    if not touched:
        return
    if len(touched) > 10_000 and session.get_bind().dialect.name == "postgresql":
        # the planner has not seen the rows this transaction added (autovacuum cannot): without
        # fresh statistics it plans the rules' GROUP BY for an empty table, and takes minutes
        session.execute(text("ANALYZE penalty_decision"))
    run_rules(session=session, actor=principal, entity_ids=touched)


def _finish(
    batch: ImportBatch,
    rows: int,
    inserted: int,
    updated: int,
    unchanged: int,
    rejected: int,
    ignored: list[str],
    started: float,
) -> None:
    batch.rows, batch.inserted, batch.updated, batch.unchanged, batch.rejected = (
        rows,
        inserted,
        updated,
        unchanged,
        rejected,
    )
    batch.ignored_columns = ignored or None
    batch.status = "completed"
    batch.finished_at = clock.now()
    batch.duration_ms = int((time.perf_counter() - started) * 1000)


def _record_failure(
    engine: Engine, batch: ImportBatch, principal: str, agency_code: str, rows: int, exc: BaseException, started: float
) -> None:
    """Record the failed attempt in its own transaction: nothing of its rows was kept."""
    try:
        with Session(engine) as session:
            failed = ImportBatch(
                agency_id=batch.agency_id,
                principal=batch.principal,
                file_name=batch.file_name,
                sha256=batch.sha256,
                size_bytes=batch.size_bytes,
                format=batch.format,
                encoding=batch.encoding,
                rows=rows,
                status="failed",
                error=f"{type(exc).__name__}: {exc}"[:2000],
                started_at=batch.started_at,
                finished_at=clock.now(),
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
            session.add(failed)
            session.flush()
            record_event(
                session=session,
                principal=principal,
                action="import",
                target=agency_code,
                outcome="failed",
                detail={"batch_id": failed.id, "error": type(exc).__name__},
            )
            session.commit()
    except Exception:  # the original error matters more than the record of it
        log.exception("could not record the failed batch")

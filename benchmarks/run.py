"""Benchmark runner: measures, beside its floor, what the issues set targets for.

Today it measures import throughput (the ingestion issue): a generated 双公示 CSV delivery is
imported by the real pipeline into a fresh database, and, as the floor, the same file is read
with pandas and inserted raw (``executemany`` into a plain table of text columns, no checks,
no indexes). Each runs in its own process, so its peak RSS is its own. Results go into
``BENCHMARKS.md`` as a Markdown table with the machine and date.

Scales: ``small`` (20,000 rows; seconds; CI runs it as a smoke test, no timing asserted) and
``full`` (1,000,000 rows). PostgreSQL is measured when ``--pg-url`` answers.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCALES = {"small": 20_000, "full": 1_000_000}
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BEGIN, END = "<!-- bench:import -->", "<!-- /bench:import -->"


@dataclass
class Measure:
    """One timed run."""

    seconds: float
    rows: int
    peak_rss_mb: float
    extra: dict[str, Any]

    @property
    def rows_per_s(self) -> float:
        """Throughput."""
        return self.rows / self.seconds if self.seconds else 0.0


def _peak_rss_mb() -> float:
    """This process's peak RSS plus the largest peak of its finished children (the import's
    reader process): an upper bound of the memory the step held at once."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


# ------------------------------------------------------------------ child processes


def _child_import(path: str, url: str) -> dict[str, Any]:
    import registry.models  # noqa: F401
    from importers.pipeline import import_file
    from registry.agencies import add_agency
    from registry.db import make_engine, session_scope, upgrade
    from registry.identifiers import build_uscc

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        add_agency(session=session, code="BENCH", name="基准测试机关", uscc=build_uscc("1", "1", "310000", "BM000001"))
    started = time.perf_counter()
    result = import_file(engine=engine, path=Path(path), agency_code="BENCH", principal="cli:bench")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "rows": result["rows"], "peak_rss_mb": _peak_rss_mb(),
            "inserted": result["inserted"], "rejected": result["rejected"]}  # fmt: skip


def _child_floor(path: str, url: str) -> dict[str, Any]:
    import pandas as pd

    from registry.db import normalize_url

    started = time.perf_counter()
    rows = 0
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=50_000, encoding="utf-8")
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        mark = "?"
    else:
        import psycopg

        conn = psycopg.connect(normalize_url(url).replace("postgresql+psycopg://", "postgresql://"))
        mark = "%s"
    cur = conn.cursor()
    for chunk in reader:
        if rows == 0:
            cols = ", ".join(f"c{i} TEXT" for i in range(len(chunk.columns)))
            cur.execute(f"CREATE TABLE floor_delivery ({cols})")
            sql = f"INSERT INTO floor_delivery VALUES ({', '.join(mark for _ in chunk.columns)})"
        cur.executemany(sql, list(chunk.itertuples(index=False, name=None)))
        rows += len(chunk)
    conn.commit()
    conn.close()
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": _peak_rss_mb()}


# what an import stores, parents first (the copy of the storage floor)
STORED_TABLES = (
    "agency", "import_batch", "entity", "entity_identifier", "entity_name", "entity_name_gram",
    "penalty_decision", "import_rejection", "listing", "listing_decision", "listing_event", "audit_event",
)  # fmt: skip


def _child_storage(imported: str, url: str) -> dict[str, Any]:
    """The registry's own storage floor (SQLite): every row the import stored, copied into an
    empty registry of the same schema by one ``INSERT … SELECT`` per table, in one
    transaction, all in SQLite's C code: no file to read, nothing to validate or resolve, no
    Python per row, and no foreign-key checks (the registry's connections make them). What
    writing those rows and their indexes costs by itself: a lower bound."""
    from registry.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-131072", "temp_store=MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("ATTACH ? AS imported", (imported.removeprefix("sqlite:///"),))
    started = time.perf_counter()
    conn.execute("BEGIN")
    for table in STORED_TABLES:
        columns = ", ".join(f'"{row[1]}"' for row in conn.execute(f'PRAGMA main.table_info("{table}")'))
        conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM imported."{table}"')
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    rows = conn.execute("SELECT count(*) FROM main.penalty_decision").fetchone()[0]
    conn.close()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": _peak_rss_mb()}


def _spawn(kind: str, path: Path, url: str) -> Measure:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", kind, str(path), url],
        capture_output=True, text=True, check=False, env={**os.environ, "XINYONG_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {kind} failed: {proc.stderr.strip().splitlines()[-1:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Measure(data.pop("seconds"), data.pop("rows"), data.pop("peak_rss_mb"), data)


# ------------------------------------------------------------------ databases


def _pg_reachable(url: str) -> bool:
    try:
        import psycopg

        from registry.db import normalize_url

        psycopg.connect(normalize_url(url).replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
        return True
    except Exception:
        return False


class _Databases:
    """Fresh databases for each measured step; PostgreSQL schemas are dropped at the end."""

    def __init__(self, workdir: Path, pg_url: str | None) -> None:
        self.workdir, self.pg_url = workdir, pg_url
        self.schemas: list[str] = []

    def sqlite(self, name: str) -> str:
        remove_sqlite(self.sqlite_path(name))
        return f"sqlite:///{self.sqlite_path(name)}"

    def sqlite_path(self, name: str) -> Path:
        return self.workdir / f"{name}.db"

    def postgres(self) -> str:
        from sqlalchemy.engine import make_url

        from registry.db import make_engine, normalize_url

        schema = f"xy_bench_{uuid.uuid4().hex[:10]}"
        engine = make_engine(self.pg_url or DEFAULT_PG)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        self.schemas.append(schema)
        url = make_url(normalize_url(self.pg_url or DEFAULT_PG)).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if not self.schemas:
            return
        from registry.db import make_engine

        engine = make_engine(self.pg_url or DEFAULT_PG)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


# ------------------------------------------------------------------ the run


def machine() -> str:
    """One line about the machine the figures come from."""
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            total_kb = int(fh.readline().split()[1])
        mem = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    load = f"; load average {os.getloadavg()[0]:.1f} when written" if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores{mem}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}{load}"
    )


def run(scale: str, out: Path, pg_url: str | None, workdir: Path, log: Any = print) -> list[dict[str, Any]]:
    """Run the benchmarks at ``scale`` and write the Markdown table into ``out``."""
    from benchmarks.generate import write_csv

    rows = SCALES[scale]
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"delivery-{rows}.csv"
    if not data.exists():
        log(f"generating {rows:,} rows → {data}")
        write_csv(data, rows)
    dbs = _Databases(workdir, pg_url)
    backends: list[tuple[str, Any]] = [("SQLite", dbs.sqlite)]
    if pg_url and _pg_reachable(pg_url):
        backends.append(("PostgreSQL", lambda _name: dbs.postgres()))
    elif pg_url:
        log(f"PostgreSQL at {pg_url} does not answer: measured on SQLite only")
    results = []
    try:
        for label, fresh in backends:
            log(f"[{label}] import of {rows:,} rows …")
            got = _spawn("_import", data, fresh("bench-import"))
            log(f"[{label}] floor (pandas + executemany) …")
            floor = _spawn("_floor", data, fresh("bench-floor"))
            storage = None
            if label == "SQLite":
                log(f"[{label}] storage floor (the stored rows copied in C) …")
                storage = _spawn("_storage", Path(dbs.sqlite_path("bench-import")), fresh("bench-storage"))
            results.append(
                {
                    "benchmark": "import (CSV, 双公示 template)",
                    "database": label,
                    "rows": got.rows,
                    "seconds": got.seconds,
                    "rows_per_s": got.rows_per_s,
                    "peak_rss_mb": got.peak_rss_mb,
                    "floor_rows_per_s": floor.rows_per_s,
                    "floor_peak_rss_mb": floor.peak_rss_mb,
                    "ratio": got.seconds / floor.seconds if floor.seconds else float("nan"),
                    "rejected": got.extra.get("rejected"),
                    "storage_rows_per_s": storage.rows_per_s if storage else None,
                }
            )
            log(
                f"[{label}] {got.rows_per_s:,.0f} rows/s (floor {floor.rows_per_s:,.0f}), RSS {got.peak_rss_mb:,.0f} MB"
            )
    finally:
        dbs.drop()
    write_markdown(out, scale, results)
    from benchmarks.latency import remove, run_latency  # lookup and search latency (publication issue)
    from benchmarks.sanctions import run_sanctions  # rules run and checks (blacklist and sanctions issues)

    # the registries at scale serve both: built once, kept for the sanctions benchmark
    sections = run_latency(scale, out, pg_url, workdir, log=log, keep=True)
    try:
        run_sanctions(scale, out, workdir, log=log, prebuilt=[(s["database"], s["url"], s["built"]) for s in sections])
    finally:
        remove(sections, pg_url)
    return results


def write_markdown(out: Path, scale: str, results: list[dict[str, Any]]) -> None:
    """Put the import table between its markers in ``out`` (other sections are kept)."""
    lines = [
        *heading("Import throughput", scale),
        "| benchmark | database | rows | seconds | rows/s | peak RSS | floor rows/s | floor peak RSS | time ÷ floor "
        "| storage floor rows/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        storage = r.get("storage_rows_per_s")
        lines.append(
            f"| {r['benchmark']} | {r['database']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} MB | {r['floor_rows_per_s']:,.0f} | {r['floor_peak_rss_mb']:,.0f} MB | "
            f"{r['ratio']:.2f} | {f'{storage:,.0f}' if storage else '—'} |"
        )
    lines += [
        "",
        "Floor: the same file read with pandas (`read_csv`, 50,000-row chunks, all text) and inserted raw with "
        "`executemany` into an unindexed table of 30 text columns, in one transaction, in its own process. "
        "Peak RSS: the measured process plus its reader process (the import validates in a second process), "
        "each at its own peak, added. Storage floor (SQLite): every row the import stored (entities, "
        "identifiers, names and their search postings, decisions, listings, audit) copied into an empty "
        "registry by one `INSERT … SELECT` per table in one transaction: SQLite's own cost of writing those "
        "rows and indexes, with no Python per row and no foreign-key checks, a lower bound "
        "(`benchmarks/run.py`, `_child_storage`).",
    ]
    replace_block(out, BEGIN, END, lines)


def heading(title: str, scale: str) -> list[str]:
    """The first lines of every BENCHMARKS block: what, at which scale, when, on what machine."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [f"### {title} — scale `{scale}`, measured {stamp}", "", f"Machine: {machine()}.", ""]


def remove_sqlite(path: Path | str) -> None:
    """Delete a SQLite database file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def replace_block(out: Path, begin: str, end: str, lines: list[str]) -> None:
    """Put ``lines`` between the ``begin`` and ``end`` markers of ``out`` (appended when the
    markers are not there yet); every other part of the file is kept."""
    block = "\n".join([begin, *lines, end])
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> None:
    """Child-process entry: ``python -m benchmarks.run _import|_floor|_storage FILE URL``."""
    kind, path, url = argv
    child = {"_import": _child_import, "_floor": _child_floor, "_storage": _child_storage}[kind]
    print(json.dumps(child(path, url)))


if __name__ == "__main__":
    main(sys.argv[1:])

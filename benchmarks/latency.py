"""Latency benchmark: public profile lookup and name search, in-process, beside a floor.

A registry is built by :func:`benchmarks.scale.build` (``small``: 20,000 entities and 60,000
decisions, a CI smoke test with no timing asserted; ``full``: 1,000,000 entities and 3,000,000
decisions). Then, after a warm-up, each query runs the public route's own function
(``entity_profile``, ``search_entities`` in ``api.routers.public``) in a fresh session, as a
request would, and is timed with ``perf_counter``: profile lookup by USCC and by 工商注册号, and
name search over a mix of 2-character, 3–4-character, full, former and traditional-character
names and natural persons' names. The floor is one raw indexed statement on the driver's own
cursor (``SELECT entity_id FROM entity_identifier WHERE scheme = ? AND value = ?``). Results go
into ``BENCHMARKS.md`` between ``<!-- bench:latency -->`` markers.

Targets (publication issue): lookup p95 ≤ 5 ms, search p95 ≤ 50 ms. Timings are noisy on a
shared 2-core machine; the table says when and where they were taken.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SCALES = {"small": (20_000, 60_000, 60), "full": (1_000_000, 3_000_000, 400)}  # entities, decisions, queries
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BEGIN, END = "<!-- bench:latency -->", "<!-- /bench:latency -->"
TARGETS = {"lookup": 5.0, "search": 50.0}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (milliseconds)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def search_queries(sample: dict[str, list[str]], count: int, seed: int) -> list[tuple[str, str]]:
    """A mix of public queries made from the sample: (kind, query)."""
    from benchmarks.scale import _s2t
    from registry.entities import search_key

    rng = random.Random(seed)
    s2t = _s2t()
    names = [search_key(n) for n in sample["names"]]
    out: list[tuple[str, str]] = []
    mix = [("2 chars", 25), ("3–4 chars", 25), ("full name", 15), ("former name", 10), ("traditional", 20),
           ("person", 5)]  # fmt: skip
    kinds = [k for k, w in mix for _ in range(max(1, round(count * w / 100)))][:count]
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "person" and not sample["person_names"]:
            kind = "full name"
        name = rng.choice(names)
        if kind == "2 chars":
            start = rng.randrange(len(name) - 1)
            q = name[start : start + 2]
        elif kind == "3–4 chars":
            size = rng.choice((3, 4))
            start = rng.randrange(len(name) - size + 1)
            q = name[start : start + size]
        elif kind == "full name":
            q = name
        elif kind == "former name":
            q = rng.choice(sample["former_names"])
        elif kind == "traditional":
            # a simplified name typed in traditional characters, whole or in part
            q = s2t.convert(name if rng.random() < 0.5 else name[: rng.randrange(3, len(name) + 1)])
        else:
            q = rng.choice(sample["person_names"])
        out.append((kind, q))
    return out


def measure(url: str, sample: dict[str, list[str]], *, queries: int, seed: int = 11) -> list[dict[str, Any]]:
    """Time lookups, searches and the floor on the built registry at ``url``."""
    from sqlmodel import Session

    import registry.models  # noqa: F401
    from api.routers import public
    from registry.db import make_engine

    engine = make_engine(url)
    rng = random.Random(seed)
    usccs = [rng.choice(sample["uscc"]) for _ in range(queries)]
    regs = [rng.choice(sample["reg_no"]) for _ in range(queries)]
    mixed = search_queries(sample, queries, seed)

    def lookup(code: str) -> None:
        with Session(engine, expire_on_commit=False) as session:
            public.entity_profile(code, session)

    def search(q: str) -> None:
        with Session(engine, expire_on_commit=False) as session:
            public.search_entities(session, q, 20, 0)

    raw = engine.raw_connection()
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    floor_sql = f"SELECT entity_id FROM entity_identifier WHERE scheme = {mark} AND value = {mark}"

    def floor(code: str) -> None:
        cur = raw.cursor()
        cur.execute(floor_sql, ("uscc", code))
        cur.fetchone()
        cur.close()

    def timed(fn: Any, args: list[str]) -> list[float]:
        out = []
        for arg in args:
            started = time.perf_counter()
            fn(arg)
            out.append((time.perf_counter() - started) * 1000)
        return out

    # warm-up: the page cache, SQLAlchemy's statement cache, OpenCC
    for code in usccs[:50]:
        lookup(code)
        floor(code)
    for _kind, q in mixed[:50]:
        search(q)
    runs: list[tuple[str, list[float], str]] = [
        ("floor: raw indexed identifier look-up", timed(floor, usccs), "—"),
        ("profile lookup by USCC", timed(lookup, usccs), "lookup"),
        ("profile lookup by 工商注册号", timed(lookup, regs), "lookup"),
    ]
    by_kind: dict[str, list[float]] = {}
    all_search: list[float] = []
    for kind, q in mixed:
        started = time.perf_counter()
        search(q)
        took = (time.perf_counter() - started) * 1000
        by_kind.setdefault(kind, []).append(took)
        all_search.append(took)
    runs.append(("name search, whole mix", all_search, "search"))
    runs += [(f"  search: {kind}", values, "") for kind, values in by_kind.items()]
    raw.close()
    engine.dispose()
    return [
        {
            "operation": label,
            "queries": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "max": max(values),
            "target": TARGETS.get(target),
        }
        for label, values, target in runs
    ]


def _pg_schema(base: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    from registry.db import make_engine, normalize_url

    schema = f"bench_search_{uuid.uuid4().hex[:8]}"
    engine = make_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    url = make_url(normalize_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def _drop_schema(base: str, schema: str) -> None:
    from registry.db import make_engine

    engine = make_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def run_latency(
    scale: str, out: Path, pg_url: str | None, workdir: Path, log: Any = print, keep: bool = False
) -> list[dict[str, Any]]:
    """Build the registry at ``scale`` on SQLite (and PostgreSQL when ``pg_url`` answers),
    measure, and write the latency table into ``out``. ``keep``: leave the registries in place
    for the next benchmark (each section carries its ``url``; :func:`remove` deletes them)."""
    from benchmarks.memory import peak_mb, reset_peak
    from benchmarks.run import _pg_reachable, remove_sqlite
    from benchmarks.scale import build

    entities, decisions, queries = SCALES[scale]
    workdir.mkdir(parents=True, exist_ok=True)
    sections: list[dict[str, Any]] = []
    targets: list[tuple[str, str]] = []
    db = workdir / "bench-latency.db"
    remove_sqlite(db)
    targets.append(("SQLite", f"sqlite:///{db}"))
    if pg_url and _pg_reachable(pg_url):
        targets.append(("PostgreSQL", ""))
    elif pg_url:
        log(f"PostgreSQL at {pg_url} does not answer: latency measured on SQLite only")
    for label, url in targets:
        schema = None
        if label == "PostgreSQL":
            schema, url = _pg_schema(pg_url or DEFAULT_PG)
        try:
            log(f"[{label}] building {entities:,} entities and {decisions:,} decisions …")
            built = build(url, entities=entities, decisions=decisions, seed=7)
            log(f"[{label}] built in {built['seconds']['total']:.0f} s; measuring {queries} queries of each kind …")
            reset_peak()
            rows = measure(url, built["sample"], queries=queries)
            sections.append(
                {"database": label, "built": built, "rows": rows, "url": url, "schema": schema, "peak_mb": peak_mb()}
            )
            for r in rows:
                log(f"[{label}] {r['operation']}: p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, p99 {r['p99']:.2f} ms")
        except BaseException:
            if schema:
                _drop_schema(pg_url or DEFAULT_PG, schema)
            raise
    write_markdown(out, scale, sections)
    if not keep:
        remove(sections, pg_url)
    return sections


def remove(sections: list[dict[str, Any]], pg_url: str | None) -> None:
    """Delete the registries :func:`run_latency` built (its SQLite file, its PostgreSQL schema)."""
    from benchmarks.run import remove_sqlite

    for section in sections:
        if section["schema"]:
            _drop_schema(pg_url or DEFAULT_PG, section["schema"])
        elif section["url"].startswith("sqlite:///"):
            remove_sqlite(section["url"].removeprefix("sqlite:///"))


def write_markdown(out: Path, scale: str, sections: list[dict[str, Any]]) -> None:
    """Put the latency table between its markers in ``out`` (other sections are kept)."""
    from benchmarks.memory import shown
    from benchmarks.run import heading, replace_block

    lines = heading("Profile lookup and name search latency", scale)
    for section in sections:
        counts, seconds = section["built"]["counts"], section["built"]["seconds"]
        lines.append(
            f"- {section['database']}: {counts['entities']:,} entities, {counts['names']:,} names "
            f"({counts['name_grams']:,} name postings), {counts['identifiers']:,} identifiers, "
            f"{counts['decisions']:,} decisions; built in {seconds['total']:.0f} s "
            f"(decisions {seconds['insert_decisions']:.0f} s, postings {seconds['insert_name_grams']:.0f} s); "
            f"peak RSS while querying: {shown(section.get('peak_mb'))}."
        )
    lines += [
        "",
        "| operation | database | queries | p50 ms | p95 ms | p99 ms | max ms | target p95 |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for section in sections:
        for r in section["rows"]:
            target = ""
            if r["target"]:
                target = f"≤ {r['target']:g} ms: {'met' if r['p95'] <= r['target'] else '**not met**'}"
            lines.append(
                f"| {r['operation']} | {section['database']} | {r['queries']:,} | {r['p50']:.2f} | {r['p95']:.2f} | "
                f"{r['p99']:.2f} | {r['max']:.2f} | {target} |"
            )
    lines += [
        "",
        "In-process: each query calls the public route's function (`entity_profile`, `search_entities`) in a "
        "fresh session, as a request does, without the HTTP framing. Search returns the first page of 20 and "
        "the count (exact up to 1,000, then `count_capped`). Floor: the raw identifier statement on the "
        "driver's cursor. Data: `benchmarks/scale.py`, seed 7; queries: seed 11, after a warm-up of 50.",
    ]
    replace_block(out, BEGIN, END, lines)


def main(argv: list[str]) -> None:
    """``python -m benchmarks.latency small|full [OUT] [PG_URL|-]``: the latency part alone."""
    scale = argv[0] if argv else "small"
    out = Path(argv[1]) if len(argv) > 1 else Path("BENCHMARKS.md")
    pg = None if len(argv) > 2 and argv[2] == "-" else (argv[2] if len(argv) > 2 else DEFAULT_PG)
    sections = run_latency(scale, out, pg, Path("bench-out"), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps([{"database": s["database"], "counts": s["built"]["counts"]} for s in sections]))


if __name__ == "__main__":
    main(sys.argv[1:])

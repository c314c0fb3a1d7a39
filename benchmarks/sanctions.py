"""Blacklist rules and joint-sanction checks at registry scale (SQLite, in-process and over HTTP).

On a registry built by :func:`benchmarks.scale.build` (1,000,000 entities and 3,000,000
decisions at ``--scale full``) it measures:

- ``xinyong rules run`` over every decision, then a second run (which must propose nothing);
- a batch check of 100,000 codes (listed, known, unknown and malformed mixed) through the API
  in-process, beside its floor: one raw indexed SQL look-up of the same codes;
- single checks over HTTP on a real uvicorn server: sequential p50/p99 and concurrent
  throughput, beside a no-op endpoint (``/healthz``) on the same server.

The proposals of the rules run are all decided ``list`` in one SQL statement (standing in for
the admins) so the checks meet a realistic blacklist. Nothing here asserts a time: the runner
writes what it measured between ``<!-- bench:sanctions -->`` markers in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.latency import percentile

SCALES = {"small": (20_000, 60_000, 5_000, 200), "full": (1_000_000, 3_000_000, 100_000, 2_000)}
# entities, decisions, codes in the batch, single checks over HTTP


def _codes(url: str, count: int, seed: int) -> tuple[list[str], dict[str, int]]:
    """A batch: 10% listed entities, 60% other known ones, 15% valid unknown, 15% malformed."""
    from sqlalchemy import select

    from registry.db import make_engine
    from registry.entities import EntityIdentifier
    from registry.identifiers import build_uscc
    from registry.listings import LISTING

    ident = EntityIdentifier.__table__  # type: ignore[attr-defined]
    rng = random.Random(seed)
    engine = make_engine(url)
    with engine.connect() as conn:
        listed_ids = [r[0] for r in conn.execute(select(LISTING.c.entity_id).where(LISTING.c.status == "listed"))]
        listed = [
            r[0]
            for r in conn.execute(
                select(ident.c.value).where(ident.c.scheme == "uscc", ident.c.entity_id.in_(listed_ids[:50_000]))
            )
        ]
        known = [r[0] for r in conn.execute(select(ident.c.value).where(ident.c.scheme == "uscc").limit(count * 2))]
    engine.dispose()
    mix = {"listed": count // 10, "known": count * 6 // 10, "unknown": count * 15 // 100}
    mix["malformed"] = count - sum(mix.values())
    codes = [rng.choice(listed) for _ in range(mix["listed"])] if listed else []
    mix["listed"] = len(codes)
    codes += [rng.choice(known) for _ in range(mix["known"])]
    codes += [
        build_uscc("9", "1", "110105", f"ZZ{rng.randrange(10**6):06d}".replace("Z", "W")) for _ in range(mix["unknown"])
    ]
    codes += [f"91{rng.randrange(10**15):015d}"[: rng.choice((8, 12, 17))] for _ in range(mix["malformed"])]
    rng.shuffle(codes)
    return codes, mix


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_app() -> Any:
    """The registry's app plus one route for the HTTP benchmark's second floor:
    ``POST /bench/check-floor`` takes the body and key of ``POST /api/v1/checks`` through the
    same dependencies and answers a fixed result of the same shape without the database. It
    shows what the framework itself costs a check (body, key, answer) beside the no-op."""
    import orjson
    from fastapi.responses import Response

    from api.app import create_app
    from api.routers.checks import Checker
    from api.schemas import CheckIn, CheckOut

    app = create_app()

    async def check_floor(body: CheckIn, principal: Checker) -> Response:
        answer = {"check_id": 0, "code": body.code, "entity": None, "decision": "clear", "listings": [], "measures": []}
        return Response(orjson.dumps(answer), media_type="application/json")

    # this module postpones annotations; FastAPI needs the real types of these local imports
    check_floor.__annotations__ = {"body": CheckIn, "principal": Checker, "return": Response}
    app.post("/bench/check-floor", response_model=CheckOut, include_in_schema=False)(check_floor)
    return app


def _http(
    url: str, today: str, singles: int, codes: list[str], settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """Sequential and concurrent single checks over HTTP beside the no-op endpoint and the
    framework floor; the server's peak RSS. ``settings``: more environment for the server."""
    import httpx
    from sqlmodel import Session

    from benchmarks.memory import peak_mb
    from registry.access import create_key
    from registry.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        _key, raw = create_key(session=session, role="bank", name="bench")
        session.commit()
    engine.dispose()
    port = _free_port()
    env = dict(os.environ, XINYONG_DATABASE_URL=url, XINYONG_TODAY=today, **(settings or {}))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.sanctions:bench_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if os.environ.get("XINYONG_BENCH_QUIET") else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {raw}"}
        valid = [c for c in codes if len(c) == 18][:singles] or codes[:singles]

        def noop(client: httpx.Client, _i: int) -> None:
            client.get(f"{base}/healthz").raise_for_status()

        def post(path: str) -> Any:
            def call(client: httpx.Client, i: int) -> None:
                r = client.post(
                    f"{base}{path}", json={"code": valid[i % len(valid)], "action": "financing"}, headers=headers
                )
                if r.status_code != 200:
                    raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:200]}")

            return call

        calls = (
            ("no-op endpoint (GET /healthz)", noop),
            ("framework floor (POST, key and answer, no database)", post("/bench/check-floor")),
            ("single check (POST /api/v1/checks)", post("/api/v1/checks")),
        )
        # sequential latency: the three kinds of request take turns, each on its own kept-alive
        # connection, so that they meet the same moments of a machine whose speed drifts (run
        # one after the other, the no-op's p50 moved by 15% between two runs of the same code)
        clients = [httpx.Client() for _ in calls]
        times: list[list[float]] = [[] for _ in calls]
        try:
            for i in range(20):
                for (_label, call), client in zip(calls, clients, strict=True):
                    call(client, i)
            for i in range(singles):
                for (_label, call), client, kept in zip(calls, clients, times, strict=True):
                    t0 = time.perf_counter()
                    call(client, i)
                    kept.append((time.perf_counter() - t0) * 1000)
        finally:
            for client in clients:
                client.close()
        rows = []
        for (label, call), kept in zip(calls, times, strict=True):
            rate = _concurrent(call, singles, threads=8)
            rows.append({"operation": label, "p50": percentile(kept, 50), "p99": percentile(kept, 99), "rate": rate})
        return {"rows": rows, "server_peak_mb": peak_mb(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _concurrent(call: Any, total: int, threads: int) -> float:
    import httpx

    def worker(n: int) -> None:
        with httpx.Client() as client:
            for i in range(n):
                call(client, i)

    per = max(1, total // threads)
    pool = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per * threads / (time.perf_counter() - t0)


def run_sanctions(
    scale: str,
    out: Path,
    workdir: Path,
    log: Any = print,
    prebuilt: list[tuple[str, str, dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Measure on each registry of ``prebuilt`` (database label, URL and the answer of
    :func:`benchmarks.scale.build` that filled it; the caller removes them afterwards), or on
    a SQLite registry built here at ``scale`` and deleted afterwards; write the table into ``out``."""
    from benchmarks.run import remove_sqlite
    from benchmarks.scale import build

    entities, decisions, _batch_size, _singles = SCALES[scale]
    workdir.mkdir(parents=True, exist_ok=True)
    own: Path | None = None
    if prebuilt is None:
        own = workdir / "bench-sanctions.db"
        remove_sqlite(own)
        url = f"sqlite:///{own}"
        log(f"[sanctions] building {entities:,} entities and {decisions:,} decisions …")
        prebuilt = [("SQLite", url, build(url, entities=entities, decisions=decisions, seed=7))]
    sections = []
    try:
        for label, url, built in prebuilt:
            sections.append(_measure(scale, label, url, built, lambda m, label=label: log(f"[sanctions {label}] {m}")))
    finally:
        if own is not None:
            remove_sqlite(own)
    write_markdown(out, scale, sections)
    return sections


def _measure(scale: str, label: str, url: str, built: dict[str, Any], log: Any) -> dict[str, Any]:
    """Every measurement on one registry."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select, update
    from sqlmodel import Session

    from api.app import create_app
    from benchmarks.memory import peak_mb, reset_peak
    from registry.access import create_key
    from registry.config import reload_settings
    from registry.db import make_engine
    from registry.listings import LISTING, run_rules
    from registry.policy import add_months

    entities, decisions, batch_size, singles = SCALES[scale]
    today = date.fromisoformat(built["today"])
    previous = os.environ.get("XINYONG_TODAY")
    os.environ["XINYONG_TODAY"] = today.isoformat()
    reload_settings()
    results: dict[str, Any] = {"database": label, "built": built, "entities": entities, "decisions": decisions}
    try:
        engine = make_engine(url)
        reset_peak()
        runs = []
        for _ in range(2):
            with Session(engine) as session:
                t0 = time.perf_counter()
                counts = run_rules(session=session, actor="bench").as_dict()
                session.commit()
                runs.append((time.perf_counter() - t0, counts))
        results["rules"] = runs
        results["rules_peak_mb"] = peak_mb()
        log(
            f"rules run: {runs[0][0]:.1f} s, {runs[0][1]['proposed']:,} proposed; "
            f"second run {runs[1][0]:.1f} s, {runs[1][1]['proposed']} proposed"
        )
        with Session(engine) as session:  # the admins decide every proposal: list
            session.execute(
                update(LISTING)
                .where(LISTING.c.status == "notified")
                .values(status="listed", listed_from=today, listed_until=add_months(today, 36) - timedelta(days=1))
            )
            session.commit()
            listed = session.execute(select(func.count()).select_from(LISTING)).scalar_one()
            _key, raw = create_key(session=session, role="bank", name="bench-batch")
            session.commit()
        results["listed"] = int(listed)
        codes, mix = _codes(url, batch_size, seed=3)
        results["mix"] = mix
        app = create_app(engine=engine)
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {raw}"}
            client.post("/api/v1/checks/batch", json={"codes": codes[:1000], "action": "financing"}, headers=headers)
            reset_peak()
            # three batches, the median reported: a server answers from warm caches, and the
            # floor below runs warm too; the first (coldest) run is reported beside it
            timed: list[float] = []
            for _ in range(3):
                t0 = time.perf_counter()
                response = client.post(
                    "/api/v1/checks/batch", json={"codes": codes, "action": "financing"}, headers=headers
                )
                timed.append(time.perf_counter() - t0)
                response.raise_for_status()
            batch_s = sorted(timed)[1]
            summary = response.json()["summary"]
            batch_peak = peak_mb()
            reset_peak()
            t0 = time.perf_counter()
            with client.stream("GET", "/api/v1/open-data/penalties.csv") as download:
                exported = sum(1 for _line in download.iter_lines())
            export_s = time.perf_counter() - t0
            export_peak = peak_mb()
        results["batch"] = {
            "seconds": batch_s,
            "first": timed[0],
            "summary": summary,
            "floor": _floor(engine, codes),
            "peak_mb": batch_peak,
        }
        reset_peak()
        results["inprocess"] = _in_process(engine, raw, [c for c in codes if len(c) == 18][:singles])
        results["inprocess"]["peak_mb"] = peak_mb()
        results["export"] = {
            "rows": exported - 1,
            "seconds": export_s,
            "floor": _export_floor(engine),
            "peak_mb": export_peak,
        }
        log(f"open-data CSV: {exported - 1:,} rows in {export_s:.1f} s")
        log(
            f"batch of {len(codes):,}: {batch_s:.2f} s, median of {', '.join(f'{t:.2f}' for t in timed)} ({summary}); "
            f"floor {results['batch']['floor']:.2f} s"
        )
        engine.dispose()
        results["http"] = _http(url, today.isoformat(), singles, codes)
        for row in results["http"]["rows"]:
            log(f"{row['operation']}: p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms, {row['rate']:.0f}/s")
        if url.startswith("postgresql"):  # the same with commits that do not wait for the disk
            results["http_fast"] = _http(url, today.isoformat(), singles, codes, {"XINYONG_CHECK_COMMIT": "fast"})
            noop, _frame, fast = results["http_fast"]["rows"]
            log(f"XINYONG_CHECK_COMMIT=fast: check p50 {fast['p50']:.2f} ms, no-op {noop['p50']:.2f} ms")
    finally:
        if previous is None:
            os.environ.pop("XINYONG_TODAY", None)
        else:
            os.environ["XINYONG_TODAY"] = previous
        reload_settings()
    return results


def _in_process(engine: Any, raw: str, codes: list[str]) -> dict[str, float]:
    """Single checks in-process: the check route's database part (answer, record, audit,
    commit: ``api.routers.checks._check``) beside the floor of one raw indexed look-up per code.
    The key is authenticated once, as the route's key cache does between requests."""
    from sqlmodel import Session

    from api.routers.checks import _check
    from api.schemas import CheckIn
    from registry.access import authenticate

    with Session(engine) as session:
        principal = authenticate(session=session, raw_key=raw)

    def check(code: str) -> None:
        _check(engine, principal, CheckIn(code=code, action="financing"))

    mark = "?" if engine.dialect.name == "sqlite" else "%s"

    def floor(code: str) -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                f"SELECT entity_id FROM entity_identifier WHERE scheme = 'uscc' AND value = {mark}", (code,)
            ).all()

    out: dict[str, float] = {}
    for name, call in (("check", check), ("floor", floor)):
        for code in codes[:20]:
            call(code)
        times = []
        for code in codes:
            t0 = time.perf_counter()
            call(code)
            times.append((time.perf_counter() - t0) * 1000)
        for pct in (50, 95, 99):
            out[f"{name}_p{pct}"] = percentile(times, pct)
    return out


def _export_floor(engine: Any) -> float:
    """Reading the same published rows raw and writing them as CSV."""
    import csv
    import io

    from registry import clock
    from registry.penalties import PENALTY, published_on

    t0 = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(PENALTY.select().where(published_on(clock.today()))):
            writer.writerow(row)
            buffer.seek(0)
            buffer.truncate()
    return time.perf_counter() - t0


def _floor(engine: Any, codes: list[str]) -> float:
    """One raw indexed look-up of every code (the least any batch check must do)."""
    import json

    if engine.dialect.name == "sqlite":
        sql = (
            "SELECT value, entity_id FROM entity_identifier WHERE scheme = 'uscc' "
            "AND value IN (SELECT value FROM json_each(?))"
        )
        params: tuple[Any, ...] = (json.dumps(codes),)
    else:
        sql = "SELECT value, entity_id FROM entity_identifier WHERE scheme = 'uscc' AND value = ANY(%s)"
        params = (codes,)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        conn.exec_driver_sql(sql, params).all()
    return time.perf_counter() - t0


def write_markdown(out: Path, scale: str, sections: list[dict[str, Any]]) -> None:
    """Replace the ``bench:sanctions`` block of ``out`` with these results."""
    from benchmarks.memory import shown
    from benchmarks.run import heading, replace_block

    lines = heading("Blacklist rules and joint-sanction checks", scale)
    for r in sections:
        lines.append(
            f"- {r['database']}: a registry of {r['entities']:,} entities and {r['decisions']:,} decisions "
            f"(built in {r['built']['seconds']['total']:.0f} s by `benchmarks/scale.py`); batch mix {r['mix']}, "
            f"answers {r['batch']['summary']}."
        )
    lines += [
        "",
        "| benchmark | database | figure | peak RSS | floor | ratio | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in sections:
        db = r["database"]
        first, second = r["rules"]
        noop, frame, check = r["http"]["rows"]
        batch, ip, ex = r["batch"], r["inprocess"], r["export"]
        http_ratio = check["p50"] / noop["p50"]
        batch_target = ""
        if db == "SQLite" and sum(r["mix"].values()) == 100_000:
            batch_target = f"< 2 s: {'met' if batch['seconds'] < 2 else '**not met**'}"
        lines += [
            f"| `rules run` over all decisions (first run) | {db} | {first[0]:.1f} s, {first[1]['proposed']:,} "
            f"proposed | {shown(r['rules_peak_mb'])} | | | {'< 60 s' if db == 'SQLite' else ''} |",
            f"| `rules run` again | {db} | {second[0]:.1f} s, {second[1]['proposed']} proposed | | | | nothing new |",
            f"| batch check of {sum(r['mix'].values()):,} codes in-process ({r['listed']:,} listings) | {db} | "
            f"{batch['seconds']:.2f} s (median of 3; first {batch.get('first', batch['seconds']):.2f} s) | "
            f"{shown(batch['peak_mb'])} | {batch['floor']:.2f} s (raw indexed look-up) | "
            f"{batch['seconds'] / batch['floor']:.1f} | {batch_target} |",
            f"| single check in-process p50 / p95 / p99 | {db} | {ip['check_p50']:.2f} / {ip['check_p95']:.2f} / "
            f"{ip['check_p99']:.2f} ms | {shown(ip['peak_mb'])} | {ip['floor_p50']:.2f} / {ip['floor_p95']:.2f} / "
            f"{ip['floor_p99']:.2f} ms (raw indexed look-up) | {ip['check_p50'] / ip['floor_p50']:.1f} (p50) | |",
            f"| open-data export (penalties.csv, streamed) | {db} | {ex['rows']:,} rows in {ex['seconds']:.1f} s "
            f"({ex['rows'] / ex['seconds']:,.0f} rows/s) | {shown(ex['peak_mb'])} | {ex['floor']:.1f} s "
            f"(raw SELECT + csv) | {ex['seconds'] / ex['floor']:.1f} | |",
            f"| single check over HTTP, sequential p50 / p99 | {db} | {check['p50']:.2f} / {check['p99']:.2f} ms | "
            f"{shown(r['http']['server_peak_mb'])} (server) | {noop['p50']:.2f} / {noop['p99']:.2f} ms (no-op "
            f"endpoint) | {http_ratio:.2f} (p50) | ≤ 1.5: {'met' if http_ratio <= 1.5 else '**not met**'} |",
            f"| framework floor over HTTP (POST with key and answer, no database) | {db} | "
            f"{frame['p50']:.2f} / {frame['p99']:.2f} ms | | {noop['p50']:.2f} ms (no-op) | "
            f"{frame['p50'] / noop['p50']:.2f} (p50) | |",
            f"| single check over HTTP, 8 concurrent clients | {db} | {check['rate']:,.0f} checks/s | | "
            f"{noop['rate']:,.0f} req/s (no-op) | {noop['rate'] / check['rate']:.2f} (time) | |",
        ]
        if "http_fast" in r:
            f_noop, _f_frame, f_check = r["http_fast"]["rows"]
            lines.append(
                f"| single check over HTTP with `XINYONG_CHECK_COMMIT=fast` (commit not waiting for the disk), "
                f"sequential p50 / p99; 8 clients | {db} | {f_check['p50']:.2f} / {f_check['p99']:.2f} ms; "
                f"{f_check['rate']:,.0f} checks/s | | {f_noop['p50']:.2f} ms (no-op) | "
                f"{f_check['p50'] / f_noop['p50']:.2f} (p50) | (not the default) |"
            )
    lines += [
        "",
        "HTTP: uvicorn, one worker, on the same machine as the client; checks are recorded (and audited) before "
        "they are answered. The no-op endpoint is `GET /healthz`, the registry's own liveness route (a plain "
        "route with a fixed answer). The framework floor is a route that takes the check's body and key through "
        "the same dependencies and answers a fixed result of the same shape: what FastAPI itself costs a check. "
        "On PostgreSQL each check's commit waits for the server's WAL flush (`synchronous_commit` on, the "
        "default): a durable audit trail costs a disk flush per check there. Peak RSS: the benchmark process's "
        "own peak during that step (the HTTP rows: the server's).",
    ]
    replace_block(out, "<!-- bench:sanctions -->", "<!-- /bench:sanctions -->", lines)

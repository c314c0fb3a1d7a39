"""Scale data sets for benchmarks: a registry of any size, written straight into a database.

``build(url, entities=…, decisions=…, seed=…)`` fills a migrated database (it runs the migrations)
with deterministic, realistic rows: organisations with valid USCCs (some with their old 工商注册号
linked), individual businesses known only by a registration number, natural persons with
resident IDs; names made of shared words (so a search is not trivial), some former names, some
written in traditional characters; penalty decisions across agencies and years with the
national mix of penalty types and a few percent repeat IP infringers. Every row is what the real
code would store: search keys by ``registry.entities.search_key``, name postings by
``name_grams``, publication windows and deadlines by ``registry.penalties._window_columns``,
content hashes by ``content_hash``.

It bypasses file parsing and validation on purpose: the import pipeline has its own benchmark
(``benchmarks/run.py``); this one exists to make a million-entity registry in minutes, set-based
(``registry.db.bulk_insert``: ``executemany`` on SQLite, ``COPY`` on PostgreSQL).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any

from benchmarks.generate import (
    AUTHORITY_MIX,
    FORMS,
    GIVEN,
    IP_TYPES,
    OTHER_TYPES,
    PENALTY_MIX,
    PLACES,
    SURNAMES,
    TRADES,
    WORDS,
    current_regions,
)
from registry.identifiers import USCC_ALPHABET, build_reg_no, build_uscc

# More words than the import benchmark uses: a million names need a larger vocabulary.
MORE_PLACES = ["天津", "重庆", "西安", "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "福州", "昆明", "佛山", "无锡"]
MORE_WORDS = list("金银海天龙凤永安福顺昌荣和合新正德嘉隆峰")
MORE_TRADES = ["餐饮管理", "物流", "家具", "纺织", "机械设备", "信息技术", "母婴用品", "眼镜", "箱包", "玩具"]
AGENCIES = [
    ("SAMR-SH", "上海市市场监督管理局", "310000", 14),
    ("SAMR-BJ", "北京市市场监督管理局", "110000", 12),
    ("SAMR-GD", "广东省市场监督管理局", "440000", 14),
    ("SAMR-ZJ", "浙江省市场监督管理局", "330000", 10),
    ("SAMR-JS", "江苏省市场监督管理局", "320000", 10),
    ("SAMR-SC", "四川省市场监督管理局", "510000", 6),
    ("SAMR-HB", "湖北省市场监督管理局", "420000", 5),
    ("SAMR-FJ", "福建省市场监督管理局", "350000", 5),
    ("CNIPA", "国家知识产权局", "110000", 4),
    ("IPO-SH", "上海市知识产权局", "310000", 3),
    ("IPO-GD", "广东省知识产权局", "440000", 3),
    ("CUSTOMS-SH", "上海海关", "310000", 3),
    ("CUSTOMS-GZ", "广州海关", "440100", 3),
    ("TAX-SH", "国家税务总局上海市税务局", "310000", 4),
    ("COPYRIGHT-BJ", "北京市版权局", "110000", 2),
    ("SAMR-SZ", "深圳市市场监督管理局", "440300", 6),
]
IP_BASIS = {
    "商标侵权": "《中华人民共和国商标法》第六十条",
    "假冒注册商标": "《中华人民共和国商标法》第六十条",
    "专利侵权": "《中华人民共和国专利法》第六十五条",
    "假冒专利": "《中华人民共和国专利法》第六十八条",
    "侵犯著作权": "《中华人民共和国著作权法》第五十三条",
    "制售假冒伪劣商品": "《中华人民共和国产品质量法》第五十条",
    "侵犯商业秘密": "《中华人民共和国反不正当竞争法》第二十一条",
}
START = date(2019, 1, 1)
CHUNK = 50_000


def _base31(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 31)
        out.append(USCC_ALPHABET[r])
    return "".join(reversed(out))


@lru_cache(maxsize=1)
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


def _commit_chunks(engine: Any, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Insert rows in chunks, one transaction each (a WAL that does not grow without end)."""
    from registry.db import bulk_insert, session_scope

    done = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            with session_scope(engine) as session:
                bulk_insert(session, table, chunk)
            done += len(chunk)
            chunk = []
    if chunk:
        with session_scope(engine) as session:
            bulk_insert(session, table, chunk)
        done += len(chunk)
    return done


def _build_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """SQLite settings for the builder's own connections, after the registry's: no foreign-key
    probe per row (the builder writes ids it made itself, parents first), no sync per commit
    (a crash mid-build leaves a registry to throw away anyway) and a 1 GiB page cache."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=OFF")
    cur.execute("PRAGMA synchronous=OFF")
    cur.execute("PRAGMA cache_size=-1048576")
    cur.close()


@contextmanager
def _indexes_deferred(engine: Any, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the plain secondary indexes of ``tables`` (not primary keys, not those behind a
    constraint) and create them again, from their own stored definitions, once the rows are in:
    an index built by one sort is several times faster than one kept up row by row, and the
    result is the same index. On PostgreSQL the tables' foreign keys likewise: added back, each
    is checked over all rows in one pass, where a per-row trigger probed its parent row by row
    (SQLite's connections here do not check them: :func:`_build_pragmas`)."""
    keys: list[tuple[str, str, str]] = []
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            keys = [
                tuple(row)
                for row in conn.exec_driver_sql(
                    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f' AND t.relname = ANY(%s) "
                    "AND t.relnamespace = current_schema()::regnamespace",
                    (list(tables),),
                )
            ]
            for table, name, _definition in keys:
                conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
                f"({', '.join('?' for _ in tables)})",
                tables,
            ).all()
        else:
            found = conn.exec_driver_sql(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace "
                "AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                (list(tables),),
            ).all()
        for name, _sql in found:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    with engine.begin() as conn:
        for _name, sql in found:
            conn.exec_driver_sql(sql)
        for table, name, definition in keys:
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _commit_plain(engine: Any, table: Any, names: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    """Insert rows already in their plain form (text, integers, booleans) straight from tuples
    (``registry.db.insert_plain``), in chunks of one transaction each: for the 8.8 million
    name postings of a full registry, where building a dict per row cost more than storing it."""
    from registry.db import insert_plain, session_scope

    done = 0
    while chunk := list(islice(rows, CHUNK * 4)):
        with session_scope(engine) as session:
            insert_plain(session, table, names, chunk)
        done += len(chunk)
    return done


class _People:
    """Resident IDs, distinct, with a region valid at birth."""

    def __init__(self, rng: random.Random, regions: tuple[str, ...]) -> None:
        self.rng, self.regions, self.used = rng, regions, set[str]()

    def new(self) -> str:
        from stdnum.cn.ric import calc_check_digit

        while True:
            region = self.rng.choice(self.regions)
            born = date(1960, 1, 1) + timedelta(days=self.rng.randrange(40 * 365))
            first17 = f"{region}{born:%Y%m%d}{self.rng.randrange(1000):03d}"
            code = first17 + calc_check_digit(first17 + "0")
            if code not in self.used:
                self.used.add(code)
                return code


def build(url: str, *, entities: int, decisions: int, seed: int = 7) -> dict[str, Any]:
    """Fill the (empty) database at ``url`` with ``entities`` entities and ``decisions``
    penalty decisions, deterministically from ``seed``. Returns the row counts, the seconds
    each step took, and a sample of codes and names to query (``sample``: ``uscc``,
    ``reg_no``, ``names``, ``former_names``, ``traditional_names``, ``person_names``)."""
    from sqlalchemy import event, select

    import registry.models  # noqa: F401  (every table mapped)
    from registry.agencies import Agency
    from registry.clock import CST
    from registry.db import make_engine, upgrade
    from registry.entities import ENTITY, GRAM, EntityIdentifier, EntityName, name_grams, search_key
    from registry.penalties import CONTENT_FIELDS, PENALTY, _window_columns, content_hash, published_on

    timings: dict[str, float] = {}
    clock0 = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    if not postgres:
        engine.dispose()
        event.listen(engine, "connect", _build_pragmas)
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM entity").scalar_one():
            raise ValueError(f"{url}: build() needs an empty registry")
    rng = random.Random(seed)
    regions = current_regions()
    places, words, trades = PLACES + MORE_PLACES, WORDS + MORE_WORDS, TRADES + MORE_TRADES
    now = datetime.now(UTC)
    today = datetime.now(CST).date()

    # ------------------------------------------------------------- agencies
    agency_rows = [
        {"id": i, "code": code, "name": name, "uscc": build_uscc("1", "1", region, f"BM{i:06d}"), "created_at": now}
        for i, (code, name, region, _w) in enumerate(AGENCIES, start=1)
    ]
    _commit_chunks(engine, Agency.__table__, iter(agency_rows))  # type: ignore[attr-defined]

    # ------------------------------------------------------------- entities, identifiers, names
    started = time.perf_counter()
    people = _People(rng, regions)
    kinds: list[str] = []
    current: list[str] = []  # current name per entity (index = id - 1)
    party: list[tuple[str | None, str | None, str | None]] = []  # uscc, reg_no, resident id
    ident_rows: list[dict[str, Any]] = []
    name_rows: list[dict[str, Any]] = []
    sample: dict[str, list[str]] = {k: [] for k in ("uscc", "reg_no", "names", "former_names", "traditional_names")}
    sample["person_names"] = []
    pick, seen = random.Random(seed + 1), dict.fromkeys(sample, 0)

    def keep(kind: str, value: str) -> None:
        """A uniform sample over the whole registry (reservoir sampling, 1,000 per kind)."""
        seen[kind] += 1
        if len(sample[kind]) < 1000:
            sample[kind].append(value)
        elif (slot := pick.randrange(seen[kind])) < 1000:
            sample[kind][slot] = value

    s2t = _s2t()
    for i in range(entities):
        entity_id = i + 1
        region = rng.choice(regions)
        roll = rng.random()
        uscc = reg = rid = None
        former: str | None = None
        if roll < 0.06:
            kind = "natural_person"
            name = f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{rng.choice(GIVEN) if rng.random() < 0.8 else ''}"
            rid = people.new()
        elif roll < 0.12:
            kind = "individual_business"
            reg = build_reg_no(f"{region}{rng.choice('6789')}{i:07d}")
            name = f"{rng.choice(places)}{rng.choice(SURNAMES)}记{rng.choice(words)}{rng.choice(trades)}店"
        else:
            authority, etype, _w = rng.choices(AUTHORITY_MIX, weights=[a[-1] for a in AUTHORITY_MIX])[0]
            uscc = build_uscc(authority, etype, region, "MA" + _base31(i, 6))
            kind = "individual_business" if (authority, etype) == ("9", "2") else "organisation"
            place, w1, w2 = rng.choice(places), rng.choice(words), rng.choice(words)
            trade, form = rng.choice(trades), rng.choice(FORMS)
            if kind == "individual_business":
                form = rng.choice(["商行", "经营部", "店"])
            name = f"{place}{w1}{w2}{trade}{form}"
            if rng.random() < 0.03:  # Hong Kong / Taiwan style: registered in traditional characters
                name = s2t.convert(name)
                keep("traditional_names", name)
            if authority == "9" and rng.random() < 0.12:  # its old registration number, linked
                digit = rng.choice("6789") if kind == "individual_business" else rng.choice("0123")
                reg = build_reg_no(f"{region}{digit}{i:07d}")
            if rng.random() < 0.08:
                former = f"{place}{w1}{rng.choice(words)}{rng.choice(trades)}{rng.choice(FORMS)}"
                if former == name:
                    former = None
        kinds.append(kind)
        current.append(name)
        party.append((uscc, reg, rid))
        registered = START - timedelta(days=rng.randrange(15 * 365))
        for scheme, value in (("uscc", uscc), ("reg_no", reg), ("resident_id", rid)):
            if value:
                ident_rows.append({"entity_id": entity_id, "scheme": scheme, "value": value, "created_at": now})
        if former:
            renamed = registered + timedelta(days=rng.randrange(1, 5 * 365))
            name_rows.append({"entity_id": entity_id, "name": former, "first_seen": registered,
                              "last_seen": renamed - timedelta(days=1)})  # fmt: skip
            registered = renamed
            keep("former_names", former)
        name_rows.append({"entity_id": entity_id, "name": name, "first_seen": registered, "last_seen": today})
        if uscc:
            keep("uscc", uscc)
        if reg:
            keep("reg_no", reg)
        if kind != "natural_person":
            keep("names", name)
    timings["generate_entities"] = time.perf_counter() - started

    started = time.perf_counter()
    with _indexes_deferred(engine, ("entity", "entity_identifier", "entity_name")):
        region_of = [(u[2:8] if u else (r[:6] if r else None)) for u, r, _ in party]
        _commit_chunks(
            engine,
            ENTITY,
            ({"id": i + 1, "kind": kinds[i], "uscc": party[i][0], "name": current[i], "region_code": region_of[i],
              "created_at": now, "updated_at": now} for i in range(entities)),
        )  # fmt: skip
        del region_of
        _commit_chunks(engine, EntityIdentifier.__table__, iter(ident_rows))  # type: ignore[attr-defined]
        for row in name_rows:
            row["search_key"] = search_key(row["name"])
        _commit_chunks(engine, EntityName.__table__, iter(name_rows))  # type: ignore[attr-defined]
    timings["insert_entities"] = time.perf_counter() - started
    counts = {"agencies": len(agency_rows), "entities": entities, "identifiers": len(ident_rows),
              "names": len(name_rows)}  # fmt: skip
    del ident_rows

    # ------------------------------------------------------------- name postings
    started = time.perf_counter()
    buckets: dict[str, list[int]] = {}
    for row in name_rows:
        entity_id = row["entity_id"]
        length = len(current[entity_id - 1])
        for gram, at_start in name_grams(row["search_key"]):
            buckets.setdefault(gram, []).append((int(at_start) << 42) | (length << 32) | entity_id)
    del name_rows

    def postings() -> Iterator[tuple[str, bool, int, int]]:
        for gram in sorted(buckets):  # key order: sequential inserts into the clustered key
            last = -1
            for code in sorted(buckets[gram]):
                if code != last:  # an entity's two names may share a gram
                    yield gram, bool(code >> 42), (code >> 32) & 0x3FF, code & 0xFFFFFFFF
                last = code

    if postgres:  # build the key once after COPY rather than row by row
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE entity_name_gram DROP CONSTRAINT pk_entity_name_gram")
    counts["name_grams"] = _commit_plain(engine, GRAM, ("gram", "at_start", "name_len", "entity_id"), postings())
    if postgres:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "ALTER TABLE entity_name_gram ADD CONSTRAINT pk_entity_name_gram "
                "PRIMARY KEY (gram, at_start, name_len, entity_id)"
            )
    buckets.clear()
    timings["insert_name_grams"] = time.perf_counter() - started

    # ------------------------------------------------------------- decisions
    started = time.perf_counter()
    agency_weights = [a[3] for a in AGENCIES]
    kinds_mix = [p[0] for p in PENALTY_MIX]
    kinds_weights = [p[1] for p in PENALTY_MIX]
    span = (today - START).days - 1
    organisations = [i for i, k in enumerate(kinds) if k != "natural_person"]
    repeaters = organisations[: max(1, len(organisations) * 3 // 100)]  # 3% offend again and again
    plan: list[tuple[int, int, date, str | None]] = []  # agency index, entity index, decided, IP type
    for entity_index in repeaters:
        if len(plan) >= decisions // 10:
            break
        first = START + timedelta(days=rng.randrange(max(1, span - 800)))
        for n in range(rng.randint(2, 4)):
            decided = min(first + timedelta(days=n * rng.randrange(60, 400)), today - timedelta(days=1))
            plan.append((rng.choices(range(len(AGENCIES)), agency_weights)[0], entity_index, decided,
                         rng.choice(IP_TYPES)))  # fmt: skip
    while len(plan) < decisions:
        plan.append((rng.choices(range(len(AGENCIES)), agency_weights)[0], rng.randrange(entities),
                     START + timedelta(days=rng.randrange(span)), None))  # fmt: skip
    plan = plan[:decisions]
    # per agency in date order, so decision numbers grow and the unique index is appended to
    plan.sort(key=lambda p: (p[0], p[2]))
    windows: dict[tuple[date, str, date], dict[str, Any]] = {}

    def decision_rows() -> Iterator[dict[str, Any]]:
        seq = [0] * len(AGENCIES)
        for agency_index, entity_index, decided, ip_type in plan:
            seq[agency_index] += 1
            code, agency_name, _region, _w = AGENCIES[agency_index]
            agency_uscc = agency_rows[agency_index]["uscc"]
            uscc, reg, rid = party[entity_index]
            kind = kinds[entity_index]
            types = rng.choices(kinds_mix, weights=kinds_weights)[0]
            violation = ip_type or (rng.choice(IP_TYPES) if rng.random() < 0.3 else rng.choice(OTHER_TYPES))
            delivered = min(decided + timedelta(days=rng.choice((1, 2, 3, 5, 7, 9, 12, 20, 30))), today)
            fine = Decimal(rng.randrange(1, 500_000)) / 10_000 if "罚款" in types else None
            values: dict[str, Any] = {
                "name": current[entity_index],
                "party_type": kind,
                "uscc": uscc,
                "reg_no": reg,
                "org_code": uscc[8:17] if uscc else None,
                "tax_no": None,
                "institution_no": None,
                "social_org_no": None,
                "legal_rep": f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}" if kind == "organisation" else None,
                "legal_rep_id_type": None,
                "legal_rep_id_no": None,
                "id_type": "resident_id" if rid else None,
                "id_no": rid,
                "violation_type": violation,
                "facts": f"当事人{violation}，违法经营额{rng.randrange(1, 500)}万元",
                "basis": IP_BASIS.get(violation, "《中华人民共和国行政处罚法》第九条"),
                "penalty_types": types,
                "content": f"{types.replace(';', '、')}，详见决定书",
                "fine_wan": fine,
                "confiscated_wan": Decimal(rng.randrange(1, 900)) / 1000 if "没收" in types else None,
                "license_affected": f"营业执照 {rng.randrange(10**14, 10**15)}" if "吊销" in types else None,
                "decision_date": decided,
                "valid_until": None,
                "publish_until": None,
                "agency_name": agency_name,
                "agency_uscc": agency_uscc,
                "source_name": agency_name,
                "source_uscc": agency_uscc,
                "remarks": None,
                "deliberate": (rng.random() < 0.2) if violation in IP_BASIS else None,
            }
            key = (decided, types, delivered)
            window = windows.get(key)
            if window is None:
                window = windows[key] = _window_columns(values, delivered)
            at = datetime(delivered.year, delivered.month, delivered.day, 10, tzinfo=CST).astimezone(UTC)
            revoked = rng.random() < 0.005
            row = {f: values[f] for f in CONTENT_FIELDS}
            row.update(window)
            row.update(
                agency_id=agency_index + 1, entity_id=entity_index + 1,
                decision_no=f"{code}罚〔{decided.year}〕{seq[agency_index]:07d}号", content_hash=content_hash(values),
                delivered_on=delivered, status="revoked" if revoked else "active",
                revoked_at=at + timedelta(days=30) if revoked else None,
                revoked_reason="行政复议撤销" if revoked else None,
                first_batch_id=None, last_batch_id=None, delivered_at=at, updated_at=at,
            )  # fmt: skip
            yield row

    with _indexes_deferred(engine, ("penalty_decision",)):
        counts["decisions"] = _commit_chunks(engine, PENALTY, decision_rows())
    timings["insert_decisions"] = time.perf_counter() - started
    counts["publication_windows_computed"] = len(windows)

    started = time.perf_counter()
    if postgres:
        with engine.begin() as conn:  # ids were given explicitly: move the sequences past them
            for table in ("agency", "entity"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    if postgres:  # what autovacuum would soon do: statistics and the visibility map
        with engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("agency", "entity", "entity_identifier", "entity_name", "entity_name_gram",
                          "penalty_decision"):  # fmt: skip
                auto.exec_driver_sql(f"VACUUM ANALYZE {table}")  # these tables only, not the whole database
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["finish"] = time.perf_counter() - started

    # natural persons visible today, for queries that must find them
    with engine.connect() as conn:
        published = select(PENALTY.c.id).where(PENALTY.c.entity_id == ENTITY.c.id, published_on(today)).exists()
        rows = conn.execute(
            select(ENTITY.c.name).where(ENTITY.c.kind == "natural_person", published).order_by(ENTITY.c.id).limit(200)
        ).all()
        sample["person_names"] = [r[0] for r in rows]
    engine.dispose()
    timings["total"] = time.perf_counter() - clock0
    return {"counts": counts, "seconds": timings, "sample": sample, "today": today.isoformat()}

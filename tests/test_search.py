"""Public name search over the bigram postings: ranking, folding, former names, privacy, paging,
the count cap, and the postings kept in step with the names on every write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, case, exists, func, literal, or_, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.pipeline import import_records
from registry import portal
from registry.agencies import add_agency
from registry.entities import (
    ENTITY,
    GRAM,
    EntityName,
    Ident,
    find_by_identifier,
    name_grams,
    resolve_entity,
    search_key,
)
from registry.identifiers import build_reg_no, build_uscc, check
from registry.penalties import PENALTY, published_on
from tests.helpers import AGENCY_USCC

NAME = EntityName.__table__  # type: ignore[attr-defined]
TODAY = date(2025, 6, 1)


def org(session: Session, name: str, n: int, *, seen_on: date | None = None) -> str:
    """An organisation named ``name`` with the ``n``-th test USCC; returns the USCC."""
    uscc = build_uscc("9", "1", "440300", f"QR{n:06d}")
    resolve_entity(session=session, name=name, identifiers=[Ident("uscc", uscc)], seen_on=seen_on)
    session.commit()
    return uscc


def find(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/entities", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def postings_from_names(session: Session) -> set[tuple[str, bool, int, int]]:
    """The postings a rebuild from ``entity_name`` would give: what the index must hold."""
    rows = session.execute(
        select(NAME.c.entity_id, NAME.c.search_key, ENTITY.c.name).join(ENTITY, ENTITY.c.id == NAME.c.entity_id)
    ).all()
    return {(g, s, len(current), e) for e, key, current in rows for g, s in name_grams(key)}


def stored_postings(session: Session) -> set[tuple[str, bool, int, int]]:
    rows = session.execute(select(GRAM.c.gram, GRAM.c.at_start, GRAM.c.name_len, GRAM.c.entity_id)).all()
    return {(g, bool(s), n, e) for g, s, n, e in rows}


def test_two_character_query_ranks_exact_then_prefix_then_contains(
    client: TestClient, session: Session, set_today: Callable[[date], None]
) -> None:
    set_today(TODAY)
    contains = org(session, "深圳市华为投资控股有限公司", 1)
    prefix_long = org(session, "华为技术有限公司", 2)
    prefix_short = org(session, "华为终端公司", 3)
    exact = org(session, "华为", 4)
    org(session, "华润万家有限公司", 5)  # shares a character, not the pair
    body = find(client, "华为")
    assert [d["uscc"] for d in body["data"]] == [exact, prefix_short, prefix_long, contains]
    assert [d["match"] for d in body["data"]] == ["name", "partial", "partial", "partial"]
    assert body["count"] == 4 and body["count_capped"] is False
    # a code comes before every name
    coded = find(client, exact)
    assert coded["data"][0]["match"] == "code" and coded["count"] == 1


def test_traditional_and_simplified_fold_alike_and_former_names_match(
    client: TestClient, session: Session, set_today: Callable[[date], None]
) -> None:
    set_today(TODAY)
    reg = build_reg_no("44030000000991")
    resolve_entity(
        session=session, name="香港樣例國際貿易公司", identifiers=[Ident("reg_no", reg)], seen_on=date(2015, 1, 1)
    )
    uscc = build_uscc("9", "1", "440300", "QR000100")
    resolve_entity(
        session=session, name="深圳样例科技有限公司", identifiers=[Ident("uscc", uscc), Ident("reg_no", reg)],
        seen_on=date(2021, 1, 1),
    )  # fmt: skip
    session.commit()
    # simplified query, traditional former name; 2 characters and more
    for q in ("国际", "样例国际贸易", "國際貿易"):
        hit = find(client, q)["data"]
        assert [(h["uscc"], h["matched_name"]) for h in hit] == [(uscc, "香港樣例國際貿易公司")], q
    # traditional query, simplified current name: no matched_name
    hit = find(client, "深圳樣例科技")["data"][0]
    assert hit["uscc"] == uscc and hit["matched_name"] is None and hit["match"] == "partial"
    assert find(client, "深圳样例科技有限公司")["data"][0]["match"] == "name"


def test_a_rename_moves_the_entity_in_the_order_and_keeps_the_index_exact(
    client: TestClient, session: Session, set_today: Callable[[date], None]
) -> None:
    set_today(TODAY)
    first = org(session, "鑫达贸易有限公司", 1, seen_on=date(2020, 1, 1))
    second = org(session, "鑫达贸易商行", 2, seen_on=date(2020, 1, 1))
    assert [d["uscc"] for d in find(client, "鑫达")["data"]] == [second, first]  # shorter current name first
    resolve_entity(session=session, name="鑫达贸易厂", identifiers=[Ident("uscc", first)], seen_on=date(2024, 1, 1))
    session.commit()
    body = find(client, "鑫达")
    assert [d["uscc"] for d in body["data"]] == [first, second]
    assert body["data"][0]["name"] == "鑫达贸易厂"
    # the old name still finds it, as a former name
    old = find(client, "贸易有限")["data"]
    assert [(d["uscc"], d["matched_name"]) for d in old] == [(first, "鑫达贸易有限公司")]
    assert stored_postings(session) == postings_from_names(session)


def person_record(name: str, id_no: str, number: str, penalty: str) -> dict[str, Any]:
    return {
        "name": name, "party_type": "自然人", "id_type": "身份证", "id_no": id_no, "decision_no": number,
        "violation_type": "商标侵权", "facts": "销售侵权商品", "basis": "《中华人民共和国商标法》第六十条",
        "penalty_types": penalty, "content": penalty, "fine_wan": "1" if penalty == "罚款" else None,
        "decision_date": "2025-05-20", "agency_name": "浦东", "agency_uscc": AGENCY_USCC,
        "source_name": "浦东", "source_uscc": AGENCY_USCC,
    }  # fmt: skip


def test_a_natural_person_is_found_only_while_a_penalty_is_published(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    from stdnum.cn.ric import calc_check_digit

    set_today(TODAY)
    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    warned = "11010119800101001" + calc_check_digit("11010119800101001" + "0")
    fined = "11010119800101002" + calc_check_digit("11010119800101002" + "0")
    records = [
        person_record("李警告", warned, "沪浦〔2025〕1号", "警告"),  # minor: never published
        person_record("李罚款", fined, "沪浦〔2025〕2号", "罚款"),
    ]
    result = import_records(engine=engine, payload={"records": records}, agency_code="PD", principal="t")
    assert result["inserted"] == 2
    body = find(client, "李警")
    assert body["count"] == 0 and body["data"] == []
    assert find(client, warned)["count"] == 0  # not even by its number
    names = [d["name"] for d in find(client, "李罚")["data"]]
    assert names == ["李罚款"]
    assert warned not in str(find(client, "李罚")) and fined not in str(find(client, fined))
    set_today(date(2026, 6, 1))  # the fine's 1-year period has ended
    assert find(client, "李罚")["count"] == 0
    assert stored_postings(session) == postings_from_names(session)


def test_paging_walks_the_same_order_without_gaps_or_repeats(
    client: TestClient, session: Session, set_today: Callable[[date], None]
) -> None:
    set_today(TODAY)
    words = "金银海天龙凤永安福顺昌荣和合新正德嘉隆峰甲乙丙丁戊己庚辛壬癸"
    for n in range(30):
        org(session, f"{words[n]}华盛{'贸易' * (n % 3)}有限公司", n)
    whole = find(client, "华盛", limit=30)
    assert whole["count"] == 30 and len(whole["data"]) == 30
    pages = [find(client, "华盛", limit=7, offset=o)["data"] for o in range(0, 35, 7)]
    assert [d["uscc"] for page in pages for d in page] == [d["uscc"] for d in whole["data"]]
    lengths = [len(d["name"]) for d in whole["data"]]
    assert lengths == sorted(lengths)


def test_the_count_stops_at_the_cap_and_pages_go_on_past_it(
    client: TestClient, session: Session, set_today: Callable[[date], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_today(TODAY)
    for n in range(12):
        org(session, f"泰祥{n:02d}号五金店", n)
    monkeypatch.setattr(portal, "SEARCH_COUNT_CAP", 5)
    body = find(client, "泰祥", limit=3)
    assert body["count"] == 5 and body["count_capped"] is True
    deep = find(client, "泰祥", limit=4, offset=8)
    assert len(deep["data"]) == 4 and deep["count"] == 12 and deep["count_capped"] is False
    monkeypatch.setattr(portal, "SEARCH_COUNT_CAP", 12)
    assert find(client, "泰祥")["count_capped"] is False


# --------------------------------------------------------------------------- against the old scan


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scan_search(session: Session, q: str, day: date) -> list[tuple[int, int]]:
    """The search as it was before the postings: a LIKE scan over every name, every match
    ranked in SQL. The reference the new search must agree with, hit for hit."""
    key = search_key(q.strip())
    checked = check(q.strip())
    exact = None
    if checked.valid and checked.scheme and checked.normalized:
        exact = find_by_identifier(session=session, ident=Ident(checked.scheme, checked.normalized))
    like = "%" + _escape(key) + "%"
    rank = func.min(
        case((NAME.c.search_key == key, 1), (NAME.c.search_key.like(_escape(key) + "%", escape="\\"), 2), else_=3)
    ).label("rank")
    union: Any = (
        select(NAME.c.entity_id, rank).where(NAME.c.search_key.like(like, escape="\\")).group_by(NAME.c.entity_id)
    )
    if exact is not None:
        union = union.union_all(select(literal(exact.id).label("entity_id"), literal(0).label("rank")))
    matched = union.subquery()
    best = select(matched.c.entity_id, func.min(matched.c.rank).label("rank")).group_by(matched.c.entity_id).subquery()
    visible = or_(
        ENTITY.c.kind != "natural_person", exists().where(PENALTY.c.entity_id == ENTITY.c.id, published_on(day))
    )
    stmt = (
        select(ENTITY.c.id, best.c.rank)
        .join(best, and_(best.c.entity_id == ENTITY.c.id))
        .where(visible)
        .order_by(best.c.rank, func.length(ENTITY.c.name), ENTITY.c.id)
    )
    return [(int(i), int(r)) for i, r in session.execute(stmt).all()]


def _schema(session: Session) -> set[tuple[str, ...]]:
    """Every index and constraint of the database as its catalogue defines it."""
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(text("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master"))
    else:
        rows = session.execute(
            text(
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() UNION ALL "
                "SELECT 'constraint', c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.connamespace = current_schema()::regnamespace"
            )
        )
    session.commit()
    return {tuple(row) for row in rows}


def test_the_postings_search_agrees_with_the_full_scan_on_a_generated_registry(
    database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from benchmarks.latency import search_queries
    from benchmarks.scale import build

    schema = _schema(session)
    built = build(database_url, entities=3000, decisions=6000, seed=3)
    assert _schema(session) == schema  # the indexes and keys the builder set aside are back, the same
    day = date.fromisoformat(built["today"])
    assert stored_postings(session) == postings_from_names(session)
    monkeypatch.setattr(portal, "SEARCH_COUNT_CAP", 40)  # small, so capped answers are tested too
    queries = [q for _kind, q in search_queries(built["sample"], 80, seed=5)]
    queries += [
        "有限公司",
        "公司",
        "商行",
        "记",
        "不存在的名称",
        built["sample"]["uscc"][0],
        built["sample"]["reg_no"][0],
    ]
    rng = random.Random(5)
    for q in queries:
        if len(search_key(q)) < 2 and not check(q).valid:
            continue
        expected = scan_search(session, q, day)
        offset = rng.choice((0, 0, 10, 35))
        page = portal.search(session=session, q=q, day=day, limit=10, offset=offset)
        assert [(h.entity.id, h.rank) for h in page.hits] == expected[offset : offset + 10], q
        if page.capped:
            assert len(expected) > page.count >= 40, q
        else:
            assert page.count == len(expected), q


def test_the_migration_indexes_the_names_already_stored(fresh_database: Callable[[], str]) -> None:
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text

    from registry.db import _alembic_config, head_revision, make_engine, upgrade

    engine = make_engine(fresh_database())
    try:
        cfg = _alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
        now = datetime.now(UTC)
        with engine.begin() as conn:  # what a registry at 0002 holds: entities and their names, no postings
            for entity_id, current, names in [
                (1, "广州样例服饰有限公司", ["廣州樣例服裝廠", "广州样例服饰有限公司"]),
                (2, "深圳华为投资", ["深圳华为投资"]),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO entity (id, kind, name, created_at, updated_at) "
                        "VALUES (:i, 'organisation', :n, :t, :t)"
                    ),
                    {"i": entity_id, "n": current, "t": now},
                )
                for name in names:
                    conn.execute(
                        text(
                            "INSERT INTO entity_name (entity_id, name, search_key, first_seen, last_seen) "
                            "VALUES (:i, :n, :k, :d, :d)"
                        ),
                        {"i": entity_id, "n": name, "k": search_key(name), "d": date(2020, 1, 1)},
                    )
        assert upgrade(engine) == head_revision(engine)
        with Session(engine) as session:
            assert stored_postings(session) == postings_from_names(session) != set()
            hits = portal.search(session=session, q="广州样例服装", day=TODAY).hits
            assert [(h.entity.id, h.matched_name) for h in hits] == [(1, "廣州樣例服裝廠")]
    finally:
        engine.dispose()

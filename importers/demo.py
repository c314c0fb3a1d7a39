"""The demo data set: a few agencies, entities (one with a legacy registration number and a
former name) and one API key per role, so a new user can try every route at once.

Safe to run again: agencies and entities are found, not duplicated; keys are new each run
because a key can only be shown when it is created.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from registry.access import create_key
from registry.agencies import add_agency
from registry.audit import record_event
from registry.entities import Ident, resolve_entity
from registry.identifiers import build_reg_no, build_uscc

DEMO_AGENCIES = [
    ("DEMO-SAMR-SH", "上海市市场监督管理局（演示）", build_uscc("1", "1", "310000", "DM000001")),
    ("DEMO-CNIPA", "国家知识产权局（演示）", build_uscc("1", "1", "100000", "DM000002")),
    ("DEMO-SAMR-GD", "广东省市场监督管理局（演示）", build_uscc("1", "1", "440000", "DM000003")),
]

DEMO_ENTITIES: list[tuple[str, list[Ident], str | None, date]] = [
    (
        "上海示例贸易有限公司",
        [Ident("uscc", build_uscc("9", "1", "310115", "DM100001"))],
        None,
        date(2024, 3, 1),
    ),
    (
        "深圳演示电子科技有限公司",
        [Ident("uscc", build_uscc("9", "1", "440300", "DM100002"))],
        None,
        date(2024, 5, 1),
    ),
    ("广州样例服装厂", [Ident("reg_no", build_reg_no("44010100000017"))], "organisation", date(2019, 1, 1)),
    (
        "广州样例服饰有限公司",
        [
            Ident("uscc", build_uscc("9", "1", "440101", "DM100003")),
            Ident("reg_no", build_reg_no("44010100000017")),
        ],
        None,
        date(2023, 1, 1),
    ),
    (
        "普宁市某某日用品店",
        [Ident("uscc", build_uscc("9", "2", "445281", "DM100004"))],
        None,
        date(2024, 7, 1),
    ),
    (
        "某村股份经济合作社",
        [Ident("uscc", build_uscc("N", "2", "330106", "DM100005"))],
        None,
        date(2022, 1, 1),
    ),
]


def load_demo(*, session: Session) -> dict[str, str]:
    """Load the demo set into ``session``; returns a fresh key per role (role -> raw key)."""
    for code, name, uscc in DEMO_AGENCIES:
        add_agency(session=session, code=code, name=name, uscc=uscc)
    for name, idents, kind, seen in DEMO_ENTITIES:
        resolve_entity(session=session, name=name, identifiers=idents, kind=kind, seen_on=seen)
    keys = {}
    for role, agency in (("admin", None), ("agency", DEMO_AGENCIES[0][0]), ("bank", None)):
        _key, raw = create_key(session=session, role=role, agency_code=agency, name=f"demo {role}")
        keys[role] = raw
    record_event(session=session, principal="cli:demo", action="demo.load", outcome="ok")
    return keys

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


def demo_penalties() -> dict[str, list[dict[str, str]]]:
    """A small delivery in the JSON field names: fines, a licence revocation, a warning (not
    published) and a natural person (published with the ID masked), decided in 2026."""
    agency_name, agency_uscc = DEMO_AGENCIES[0][1], DEMO_AGENCIES[0][2]
    base = {"facts": "销售侵犯注册商标专用权的商品", "basis": "《中华人民共和国商标法》第六十条第二款",
            "agency_name": agency_name, "agency_uscc": agency_uscc, "source_name": agency_name,
            "source_uscc": agency_uscc, "party_type": "法人及非法人组织"}  # fmt: skip
    first, second, _, individual, shop, _ = DEMO_ENTITIES
    rows = [
        {**base, "name": first[0], "uscc": first[1][0].value, "decision_no": "沪市监演示处〔2026〕1号",
         "violation_type": "商标侵权", "penalty_types": "罚款;没收违法所得", "content": "罚款五万元，没收违法所得",
         "fine_wan": "5", "confiscated_wan": "0.8", "decision_date": "2026-03-05"},
        {**base, "name": first[0], "uscc": first[1][0].value, "decision_no": "沪市监演示处〔2026〕2号",
         "violation_type": "假冒注册商标", "penalty_types": "罚款;吊销许可证件", "content": "罚款并吊销营业执照",
         "fine_wan": "20", "license_affected": "营业执照", "decision_date": "2026-09-01", "deliberate": "是"},
        {**base, "name": second[0], "uscc": second[1][0].value, "decision_no": "沪市监演示处〔2026〕3号",
         "violation_type": "虚假广告", "penalty_types": "警告", "content": "警告", "decision_date": "2026-06-01"},
        {**base, "name": individual[0], "uscc": individual[1][0].value, "reg_no": individual[1][1].value,
         "decision_no": "沪市监演示处〔2026〕4号", "violation_type": "侵犯著作权", "penalty_types": "罚款",
         "content": "罚款一万元", "fine_wan": "1", "decision_date": "2026-07-15"},
        {**base, "name": shop[0], "party_type": "个体工商户", "uscc": shop[1][0].value,
         "decision_no": "沪市监演示处〔2026〕5号", "violation_type": "制售假冒伪劣商品", "penalty_types": "罚款",
         "content": "罚款二千元", "fine_wan": "0.2", "decision_date": "2026-08-08"},
        {**base, "name": "李四", "party_type": "自然人", "id_type": "身份证", "id_no": "110101199003074514",
         "decision_no": "沪市监演示处〔2026〕6号", "violation_type": "专利侵权", "penalty_types": "罚款",
         "content": "罚款一千元", "fine_wan": "0.1", "decision_date": "2026-10-10"},
    ]  # fmt: skip
    return {"records": rows}

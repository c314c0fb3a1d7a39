"""Entities: resolve or create from any mix of identifiers, link legacy codes, refuse conflicts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from registry.entities import (
    Entity,
    EntityIdentifier,
    Ident,
    identifiers_of,
    lookup,
    names_of,
    resolve_entity,
    validated,
)
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.identifiers import build_reg_no, build_uscc

USCC = build_uscc("9", "1", "440101", "EN000001")
REG = build_reg_no("44010100000017")
ORG = USCC[8:17]


def test_create_then_find_by_any_identifier(session: Session) -> None:
    e = resolve_entity(session=session, name="广州样例服饰有限公司", identifiers=[Ident("uscc", USCC)])
    session.commit()
    assert e.uscc == USCC and e.kind == "organisation" and e.region_code == "440101"
    again = resolve_entity(session=session, name="广州样例服饰有限公司", identifiers=[Ident("uscc", USCC)])
    assert again.id == e.id
    assert session.exec(select(Entity)).all() == [e]


def test_legacy_registration_number_links_to_the_uscc_entity(session: Session) -> None:
    old = resolve_entity(
        session=session, name="广州样例服装厂", identifiers=[Ident("reg_no", REG)], seen_on=date(2015, 1, 1)
    )
    assert old.uscc is None
    linked = resolve_entity(
        session=session,
        name="广州样例服饰有限公司",
        identifiers=[Ident("uscc", USCC), Ident("reg_no", REG)],
        seen_on=date(2020, 1, 1),
    )
    session.commit()
    assert linked.id == old.id and linked.uscc == USCC
    assert {(i.scheme, i.value) for i in identifiers_of(session=session, entity_id=linked.id)} == {
        ("uscc", USCC),
        ("reg_no", REG),
    }
    assert lookup(session=session, code=REG).id == linked.id
    assert lookup(session=session, code=USCC).id == linked.id
    # the old name stays searchable, the newest is current
    assert linked.name == "广州样例服饰有限公司"
    assert {n.name for n in names_of(session=session, entity_id=linked.id)} == {
        "广州样例服装厂",
        "广州样例服饰有限公司",
    }


def test_an_older_delivery_does_not_overwrite_the_current_name(session: Session) -> None:
    e = resolve_entity(
        session=session, name="新名称有限公司", identifiers=[Ident("uscc", USCC)], seen_on=date(2024, 1, 1)
    )
    resolve_entity(session=session, name="旧名称厂", identifiers=[Ident("uscc", USCC)], seen_on=date(2018, 1, 1))
    session.refresh(e)
    assert e.name == "新名称有限公司"


def test_identifiers_naming_two_entities_are_refused(session: Session) -> None:
    other = build_uscc("9", "1", "440101", "EN000002")
    resolve_entity(session=session, name="甲公司", identifiers=[Ident("uscc", USCC)])
    resolve_entity(session=session, name="乙厂", identifiers=[Ident("reg_no", REG)])
    with pytest.raises(Conflict) as info:
        resolve_entity(session=session, name="甲公司", identifiers=[Ident("uscc", USCC), Ident("reg_no", REG)])
    assert info.value.code == "identifier_conflict"
    assert USCC in info.value.message and REG in info.value.message
    assert other not in info.value.message


def test_second_value_of_a_single_valued_scheme_is_refused(session: Session) -> None:
    resolve_entity(session=session, name="甲公司", identifiers=[Ident("uscc", USCC), Ident("org_code", ORG)])
    new_org = "600037341"
    with pytest.raises(Conflict) as info:
        resolve_entity(session=session, name="甲公司", identifiers=[Ident("uscc", USCC), Ident("org_code", new_org)])
    assert ORG in info.value.message and new_org in info.value.message


def test_two_usccs_in_one_request_are_refused(session: Session) -> None:
    with pytest.raises(Conflict):
        resolve_entity(
            session=session,
            name="甲",
            identifiers=[Ident("uscc", USCC), Ident("uscc", build_uscc("9", "1", "440101", "EN000003"))],
        )


@pytest.mark.parametrize(
    ("idents", "kind"),
    [
        ([Ident("uscc", build_uscc("9", "2", "445281", "EN000004"))], "individual_business"),
        ([Ident("reg_no", build_reg_no("44528160000001"))], "individual_business"),
        ([Ident("resident_id", "110101199003074514")], "natural_person"),
        ([Ident("uscc", build_uscc("5", "1", "110000", "EN000005"))], "organisation"),
    ],
)
def test_kind_is_inferred_from_identifiers(session: Session, idents: list[Ident], kind: str) -> None:
    assert resolve_entity(session=session, name="某主体", identifiers=idents).kind == kind


def test_conflict_messages_never_show_a_full_resident_id(session: Session) -> None:
    rid = "110101199003074514"
    resolve_entity(session=session, name="张三", identifiers=[Ident("resident_id", rid)])
    resolve_entity(session=session, name="李四", identifiers=[Ident("uscc", USCC)])
    with pytest.raises(Conflict) as info:
        resolve_entity(session=session, name="张三", identifiers=[Ident("resident_id", rid), Ident("uscc", USCC)])
    assert rid not in info.value.message and "110101********4514" in info.value.message


def test_lookup_distinguishes_malformed_from_unknown(session: Session) -> None:
    with pytest.raises(ValidationFailed) as bad:
        lookup(session=session, code="91110000600037341N")
    assert bad.value.code == "checksum"
    with pytest.raises(NotFound):
        lookup(session=session, code="91110000600037341L")


def test_validated_raises_with_field_and_value() -> None:
    with pytest.raises(ValidationFailed) as info:
        validated("123", "uscc", field="uscc")
    assert info.value.errors[0].field == "uscc" and info.value.errors[0].value == "123"


def test_empty_identifiers_or_name_are_refused(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        resolve_entity(session=session, name="甲", identifiers=[])
    with pytest.raises(ValidationFailed):
        resolve_entity(session=session, name="  ", identifiers=[Ident("uscc", USCC)])


def test_identifier_rows_are_unique_per_scheme_and_value(session: Session) -> None:
    resolve_entity(session=session, name="甲", identifiers=[Ident("uscc", USCC), Ident("reg_no", REG)])
    resolve_entity(session=session, name="甲", identifiers=[Ident("uscc", USCC), Ident("reg_no", REG)])
    session.commit()
    assert len(session.exec(select(EntityIdentifier)).all()) == 2


def test_claims_in_one_call_that_share_an_identifier_make_one_entity(session: Session) -> None:
    from registry.entities import EntityClaim, resolve_many

    claims = [
        EntityClaim("广州样例服装厂", (Ident("reg_no", REG),), seen_on=date(2015, 1, 1)),
        EntityClaim("广州样例服饰有限公司", (Ident("uscc", USCC), Ident("reg_no", REG)), seen_on=date(2021, 1, 1)),
        EntityClaim("广州样例服饰有限公司", (Ident("uscc", USCC),), seen_on=date(2022, 1, 1)),
        EntityClaim("别的公司", (Ident("uscc", USCC), Ident("org_code", "600037341")), seen_on=date(2022, 1, 1)),
    ]
    first, second, third, fourth = resolve_many(session=session, claims=claims)
    assert first == second == third == fourth
    entity = session.get(Entity, first)
    assert entity is not None and entity.uscc == USCC and entity.region_code == USCC[2:8]
    # the name seen last is current; every name is kept
    session.refresh(entity)
    assert entity.name in {"广州样例服饰有限公司", "别的公司"}
    assert len(names_of(session=session, entity_id=first)) == 3


def test_a_conflicting_claim_does_not_stop_the_others(session: Session) -> None:
    from registry.entities import EntityClaim, resolve_many

    resolve_entity(session=session, name="甲", identifiers=[Ident("uscc", USCC)])
    resolve_entity(session=session, name="乙", identifiers=[Ident("reg_no", REG)])
    other = build_uscc("9", "1", "440101", "EN000007")
    results = resolve_many(
        session=session,
        claims=[
            EntityClaim("甲乙", (Ident("uscc", USCC), Ident("reg_no", REG))),
            EntityClaim("丙", (Ident("uscc", other),)),
        ],
    )
    assert isinstance(results[0], Conflict) and isinstance(results[1], int)

"""Identifier validation: every scheme, every reason code, normalisation, masking."""

from __future__ import annotations

import pytest
from stdnum.cn.ric import calc_check_digit

from registry import identifiers as ids
from registry.identifiers import build_reg_no, build_uscc, check

VALID_USCC = "91110000600037341L"


def test_known_valid_uscc_with_its_parts() -> None:
    r = check(VALID_USCC)
    assert (r.valid, r.scheme, r.normalized, r.reason) == (True, "uscc", VALID_USCC, None)
    assert r.region is not None and r.region.code == "110000" and r.region.province == "北京市"
    assert r.authority is not None and r.authority.code == "9"
    assert r.entity_type is not None and r.entity_type.name == "企业"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341N", "checksum"),
        ("91110000600037341", "length"),
        ("91110000600037341LL", "length"),
        ("9111000060003734IL", "alphabet"),  # I is not in the USCC alphabet
        ("9111000060003734OL", "alphabet"),
        ("00000000000000000X", "placeholder"),
        ("9.14306E+17", "excel_number"),
        ("", "empty"),
    ],
)
def test_uscc_reasons(code: str, reason: str) -> None:
    r = check(code, "uscc")
    assert not r.valid
    assert r.reason == reason
    assert r.message_zh and r.message_en


def test_checksum_message_names_the_expected_character() -> None:
    r = check("91110000600037341N")
    assert "'L'" in (r.message_en or "") and "L" in (r.message_zh or "")


def test_embedded_org_code_wrong_but_final_check_right() -> None:
    first17 = "91110000600037342"  # org code 60003734-2: its check should be 1
    code = first17 + ids.uscc_check_char(first17)
    r = check(code)
    assert r.scheme == "uscc" and r.reason == "org_code_checksum"
    assert "'1'" in (r.message_en or "")


@pytest.mark.parametrize(
    "authority,etype", [("N", "1"), ("N", "2"), ("N", "3"), ("A", "1"), ("Y", "1"), ("5", "3"), ("9", "3")]
)
def test_letter_authorities_are_valid_when_computed_correctly(authority: str, etype: str) -> None:
    code = build_uscc(authority, etype, "330106", "MA2AB3CD")
    r = check(code)
    assert r.valid, r.message_en
    assert r.authority is not None and r.authority.code == authority


def test_rural_collective_code_from_the_issue() -> None:
    code = build_uscc("N", "2", "110105", "MA000001")
    assert code[:2] == "N2" and check(code).valid


def test_unknown_authority() -> None:
    code = build_uscc("B", "1", "110000", "60003734")
    assert check(code).reason == "authority"


@pytest.mark.parametrize("authority,etype", [("9", "4"), ("9", "9"), ("Y", "2"), ("N", "4"), ("1", "5")])
def test_entity_type_must_exist_for_its_authority(authority: str, etype: str) -> None:
    r = check(build_uscc(authority, etype, "110000", "60003734"))
    assert r.reason == "entity_type"
    assert authority in (r.message_en or "")


@pytest.mark.parametrize("region", ["990000", "110099", "000000", "123456"])
def test_unknown_region(region: str) -> None:
    r = check(build_uscc("9", "1", region, "60003734"))
    assert r.reason == "region"
    assert region in (r.message_zh or "")


def test_retired_region_codes_stay_valid_and_are_named() -> None:
    r = check(build_uscc("9", "1", "110103", "60003734"))  # 崇文区, merged into 东城区 in 2010
    assert r.valid
    assert r.region is not None and r.region.name == "崇文区" and r.region.historical


def test_national_region_code() -> None:
    r = check(build_uscc("1", "1", "100000", "00001234"))
    assert r.valid and r.region is not None and "国家" in r.region.name


@pytest.mark.parametrize(
    "typed",
    [
        "９１１１００００６０００３７３４１Ｌ",
        "91110000600037341l",
        " 9111 0000 6000 3734 1L ",
        "911100-00600037341L",
        "91110000　600037341L",  # ideographic space
    ],
)
def test_normalisation(typed: str) -> None:
    r = check(typed)
    assert r.valid and r.normalized == VALID_USCC
    assert r.input == typed


def test_registration_number() -> None:
    r = check("310115600985533")
    assert (r.valid, r.scheme) == (True, "reg_no")
    assert r.entity_type is not None and r.entity_type.name == "个体工商户"
    assert check("310115600985534").reason == "checksum"
    domestic = build_reg_no("11010800000012")
    assert check(domestic).entity_type.name == "内资企业"  # type: ignore[union-attr]
    assert check("31011560098553", "reg_no").reason == "length"


def test_organisation_code() -> None:
    assert check("60003734-1").valid
    assert check("600037341").scheme == "org_code"
    assert check("600037342").reason == "checksum"
    assert check("6000373a1", "org_code").valid is False
    assert check("60003734*", "org_code").reason == "alphabet"
    # check value 10 is written X
    body = next(f"{n:08d}" for n in range(10_000_000, 10_100_000) if ids.org_code_check_char(f"{n:08d}") == "X")
    assert check(body + "X").valid


RESIDENT = "110101199003074514"


def test_resident_id_valid_and_masked_in_public_output() -> None:
    r = check(RESIDENT)
    assert (r.valid, r.scheme) == (True, "resident_id")
    out = r.public_dict()
    assert out["input"] == "110101********4514" and out["normalized"] == "110101********4514"
    assert RESIDENT not in repr(out)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("110101199003074518", "checksum"),
        ("11010119901307451" + calc_check_digit("11010119901307451?"), "birth_date"),  # month 13
        ("11010119900307451A", "alphabet"),
    ],
)
def test_resident_id_reasons_never_echo_the_number(code: str, reason: str) -> None:
    r = check(code, "resident_id")
    assert r.reason == reason
    assert code not in (r.message_zh or "") + (r.message_en or "")
    assert code not in repr(r.public_dict())


def test_unknown_scheme_by_length() -> None:
    r = check("12345")
    assert (r.valid, r.scheme, r.reason) == (False, None, "unknown_scheme")


def test_tax_number_made_of_region_and_org_code() -> None:
    r = check("110108600037341")  # 15 characters, not a valid reg_no: region + org code
    assert r.scheme in {"reg_no", "tax_no"}
    tax = check("11010860003734X", "tax_no")
    assert tax.reason == "org_code_checksum"
    assert check("110108600037341", "tax_no").valid
    assert check(VALID_USCC, "tax_no").valid


def test_require_names_field_value_and_reason() -> None:
    from registry.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        ids.require("91110000600037341N", "uscc", field="agency_uscc")
    err = info.value
    assert err.code == "checksum"
    assert err.errors[0].field == "agency_uscc" and err.errors[0].value == "91110000600037341N"
    assert "agency_uscc" in err.message


def test_public_dict_has_the_contract_fields() -> None:
    keys = set(check(VALID_USCC).public_dict())
    assert {"input", "valid", "scheme", "normalized", "reason", "region", "authority", "entity_type"} <= keys


def test_a_resident_id_region_known_only_as_a_province_is_an_unknown_region() -> None:
    """python-stdnum 2.2 raises KeyError for such a region (825811, 澳門): the check answers
    "region", as for any region it does not know, and names the code, never the number."""
    body = "82581119800101123"
    code = body + calc_check_digit(body + "0")
    r = check(code, "resident_id")
    assert (r.valid, r.reason) == (False, "region")
    assert "825811" in (r.message_zh or "") and code not in (r.message_zh or "") + (r.message_en or "")

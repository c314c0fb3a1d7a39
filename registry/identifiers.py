"""Identifiers of market entities and persons: detect the scheme, normalise, validate, explain.

One entry point, :func:`check`, takes whatever an agency clerk or a member of the public typed
and answers which scheme it is, its normal form and, when invalid, a stable reason code with a
message in Chinese and English. The schemes:

- ``uscc``: 统一社会信用代码 (GB 32100-2015): length, alphabet and the final check character
  (python-stdnum's arithmetic, inlined for bulk speed and held equal to it by a property test;
  unlike stdnum, A, N and Y first characters are valid), then the registering authority, the
  entity type within that authority, the region code against the historical GB/T 2260
  divisions from stdnum's data (retired codes stay valid), and the embedded GB 11714
  organisation code.
- ``reg_no``: 15-digit 工商注册号, ISO 7064 MOD 11,10 (python-stdnum).
- ``org_code``: 9-character 组织机构代码 (GB 11714).
- ``resident_id``: 18-digit 居民身份证号 (GB 11643, python-stdnum). Never echoed in full:
  :meth:`IdentifierCheck.public_dict` masks it.
- ``tax_no``: 15-character 税务登记号 made of a region code and an organisation code (only
  detected when it cannot be a registration number).

``00000000000000000X`` is the placeholder agencies write for an individual business without a
USCC; it is never valid on its own (reason ``placeholder``).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from operator import mul
from typing import Any

from stdnum import numdb
from stdnum.cn import ric as _ric
from stdnum.exceptions import InvalidComponent
from stdnum.iso7064 import mod_11_10

from registry.errors import FieldError, ValidationFailed
from registry.privacy import mask_id_number

SCHEMES = ("uscc", "reg_no", "org_code", "resident_id", "tax_no")
PLACEHOLDER_USCC = "00000000000000000X"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = re.compile(r"[0-9A-Z]{8}")
_EXCEL_NUMBER = re.compile(r"^[0-9](\.[0-9]+)?E\+?[0-9]+$")
# Separators people type inside codes: spaces of every width, hyphens and dashes, dots.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−·]+")

# Reason code -> (Chinese, English) message templates.
REASONS: dict[str, tuple[str, str]] = {
    "empty": ("代码为空", "the code is empty"),
    "length": (
        "长度错误：应为{expected}位，实际为{actual}位",
        "wrong length: expected {expected} characters, got {actual}",
    ),
    "alphabet": (
        "第{pos}位字符“{char}”不允许出现在{scheme_zh}中",
        "character '{char}' at position {pos} is not allowed in a {scheme_en}",
    ),
    "checksum": (
        "校验码错误：第{pos}位应为“{expected}”",
        "check character wrong: position {pos} should be '{expected}'",
    ),
    "org_code_checksum": (
        "内嵌的组织机构代码（第9-17位）校验码错误：第17位应为“{expected}”",
        "the embedded organisation code (positions 9-17) has a wrong check character: "
        "position 17 should be '{expected}'",
    ),
    "authority": (
        "第1位登记管理部门代码“{char}”不存在",
        "position 1: '{char}' is not a registering-authority code",
    ),
    "entity_type": (
        "第2位机构类别代码“{char}”在登记管理部门“{authority}”下不存在",
        "position 2: '{char}' is not an entity-type code under authority '{authority}'",
    ),
    "region": (
        "行政区划码“{code}”不存在",
        "region code '{code}' is not a known administrative division",
    ),
    "placeholder": (
        "00000000000000000X 是无统一社会信用代码的个体工商户的占位符，须同时提供有效的工商注册号",
        "00000000000000000X is the placeholder for an individual business without a USCC; "
        "it is only accepted together with a valid 15-digit registration number",
    ),
    "excel_number": (
        "代码被Excel转换成了数字（{value}），原值已丢失，请将该列设为文本格式后重新导出",
        "the code was turned into a number by Excel ({value}) and its digits are lost; "
        "format the column as text and export again",
    ),
    "format": ("格式错误：{detail_zh}", "wrong format: {detail_en}"),
    "birth_date": ("出生日期“{value}”无效", "birth date '{value}' is not a real date"),
    "unknown_scheme": (
        "无法识别的代码：统一社会信用代码和身份证号为18位，工商注册号为15位，组织机构代码为9位，实际为{actual}位",
        "not a known identifier: USCC and resident IDs have 18 characters, registration numbers 15, "
        "organisation codes 9; got {actual}",
    ),
}

SCHEME_NAMES: dict[str, tuple[str, str]] = {
    "uscc": ("统一社会信用代码", "unified social credit code"),
    "reg_no": ("工商注册号", "business registration number"),
    "org_code": ("组织机构代码", "organisation code"),
    "resident_id": ("居民身份证号", "resident identity number"),
    "tax_no": ("税务登记号", "tax registration number"),
}


@dataclass(frozen=True)
class Region:
    """An administrative division named by a code (GB/T 2260), possibly retired since."""

    code: str
    province: str | None
    name: str
    historical: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "code": self.code,
            "province": self.province,
            "name": self.name,
            "historical": self.historical,
        }


@dataclass(frozen=True)
class CodeName:
    """A one-character code and what it stands for."""

    code: str
    name: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "name": self.name}


@dataclass(slots=True)
class IdentifierCheck:
    """The answer to "what is this code and is it valid?". Treat as read-only: results are
    cached and shared (not frozen only because frozen dataclasses are slow to build, and
    bulk imports build hundreds of thousands)."""

    input: str
    valid: bool
    scheme: str | None
    normalized: str | None
    reason: str | None = None
    message_zh: str | None = None
    message_en: str | None = None
    region: Region | None = None
    authority: CodeName | None = None
    entity_type: CodeName | None = None

    @property
    def message(self) -> str | None:
        """Both messages on one line, Chinese first, for CLI output and error details."""
        if self.message_zh is None:
            return None
        return f"{self.message_zh} ({self.message_en})"

    def public_dict(self) -> dict[str, Any]:
        """The CONTRACT.md object. Resident identity numbers are masked in ``input`` and
        ``normalized``: this goes to the public validation route and to terminals."""
        personal = self.scheme == "resident_id"
        return {
            "input": mask_id_number(self.input) if personal else self.input,
            "valid": self.valid,
            "scheme": self.scheme,
            "normalized": mask_id_number(self.normalized) if personal and self.normalized else self.normalized,
            "reason": self.reason,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "region": self.region.as_dict() if self.region else None,
            "authority": self.authority.as_dict() if self.authority else None,
            "entity_type": self.entity_type.as_dict() if self.entity_type else None,
        }


# --------------------------------------------------------------------------- code tables


@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    with resources.files("registry").joinpath("data/identifiers.toml").open("rb") as fh:
        return tomllib.load(fh)


def uscc_authorities() -> dict[str, dict[str, Any]]:
    """Registering-authority codes (USCC position 1) with their names and entity types."""
    return _tables()["uscc"]["authorities"]


def _clean_division_name(raw: str) -> tuple[str, bool]:
    """stdnum writes renamed divisions as ``[1983-1989]old,[1990-]new``: take the latest name
    and say whether the code has been retired (an end year on the latest entry)."""
    latest = raw.split(",")[-1]
    match = re.match(r"^\[(\d*)-(\d*)\](.*)$", latest)
    if not match:
        return latest, False
    return match.group(3), bool(match.group(2))


@lru_cache(maxsize=8192)
def region_info(code: str) -> Region | None:
    """The division a 6-digit region code names, or None when no division ever had it."""
    if len(code) != 6 or not code.isdigit():
        return None
    extra = _tables()["regions"]["extra"]
    if code in extra:
        return Region(code=code, province=None, name=extra[code], historical=False)
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(code):
        info.update(props)
    if "province" not in info or "county" not in info:
        return None
    name, historical = _clean_division_name(info["county"])
    province, _ = _clean_division_name(info["province"])
    return Region(code=code, province=province, name=name, historical=historical)


# --------------------------------------------------------------------------- check characters


_ORG_VALUE = {c: (int(c) if c.isdigit() else ord(c) - ord("A") + 10) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def org_code_check_char(body: str) -> str:
    """GB 11714 check character for an 8-character organisation-code body."""
    if len(body) != 8:
        raise ValueError(f"an organisation-code body has 8 characters, not {len(body)}")
    total = sum(map(mul, map(_ORG_VALUE.__getitem__, body), ORG_CODE_WEIGHTS))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_PLAIN = re.compile(r"[0-9A-Z]{9,18}")
# codes :func:`normalize` returns as they are: ``already_normal(code)`` is truthy for them (a
# batch of 100,000 codes tests each inline, without the call)
already_normal = _PLAIN.fullmatch
_USCC_CHARS = re.compile(r"[0-9A-HJ-NP-RT-UW-Y]{18}")


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (position 18) for the first 17 characters: the same sum as
    ``stdnum.cn.uscc.calc_check_digit`` (a test holds them equal), computed directly because
    stdnum re-cleans its input on every call, which dominates bulk imports."""
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, first17[:17]), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def reg_no_check_digit(first14: str) -> str:
    """ISO 7064 MOD 11,10 check digit for the first 14 digits of a registration number."""
    return mod_11_10.calc_check_digit(first14)


def build_uscc(authority: str, entity_type: str, region: str, org_body: str) -> str:
    """A USCC from its parts, with both check characters computed (demo and test data)."""
    parts = authority + entity_type + region + org_body
    if len(parts) != 16 or any(c not in USCC_ALPHABET for c in parts):
        raise ValueError(f"{parts!r}: 16 characters from {USCC_ALPHABET} are needed (no I, O, S, V, Z)")
    org = org_body + org_code_check_char(org_body)
    first17 = authority + entity_type + region + org
    return first17 + uscc_check_char(first17)


def build_reg_no(first14: str) -> str:
    """A registration number from its first 14 digits."""
    return first14 + reg_no_check_digit(first14)


# --------------------------------------------------------------------------- normalising


def normalize(raw: str) -> str:
    """The normal form of a typed code: full-width to half-width (NFKC), separators removed,
    upper case. Idempotent."""
    if _PLAIN.fullmatch(raw):
        return raw  # already normal: nothing to fold, strip or upper-case
    text, previous = raw, None
    # Upper-casing can un-compose what NFKC composed; a few rounds reach the fixed point.
    for _ in range(4):
        if text == previous:
            break
        previous = text
        text = unicodedata.normalize("NFKC", _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper())
    return text


def _excel_number(raw: str) -> bool:
    """True when Excel turned a long code into a number such as ``9.14306E+17``."""
    return bool(_EXCEL_NUMBER.match(unicodedata.normalize("NFKC", raw).strip().upper()))


def _fail(raw: str, scheme: str | None, normalized: str | None, reason: str, **params: Any) -> IdentifierCheck:
    zh, en = REASONS[reason]
    if scheme:
        params.setdefault("scheme_zh", SCHEME_NAMES[scheme][0])
        params.setdefault("scheme_en", SCHEME_NAMES[scheme][1])
    return IdentifierCheck(
        input=raw,
        valid=False,
        scheme=scheme,
        normalized=normalized,
        reason=reason,
        message_zh=zh.format(**params),
        message_en=en.format(**params),
    )


def _alphabet_error(raw: str, scheme: str, code: str, allowed: str) -> IdentifierCheck | None:
    for pos, char in enumerate(code, start=1):
        if char not in allowed:
            return _fail(raw, scheme, code, "alphabet", pos=pos, char=char)
    return None


# --------------------------------------------------------------------------- per scheme


def check_uscc(raw: str) -> IdentifierCheck:
    """Validate a 统一社会信用代码 fully (see the module docstring for what is checked)."""
    code = normalize(raw)
    if not code:
        return _fail(raw, "uscc", code, "empty")
    if not _PLAIN.fullmatch(raw) and _excel_number(raw):  # a code already in normal form is no Excel number
        return _fail(raw, "uscc", code, "excel_number", value=raw.strip())
    if code == PLACEHOLDER_USCC:
        return _fail(raw, "uscc", code, "placeholder")
    if len(code) != 18:
        return _fail(raw, "uscc", code, "length", expected=18, actual=len(code))
    if not _USCC_CHARS.fullmatch(code) and (err := _alphabet_error(raw, "uscc", code, USCC_ALPHABET)):
        return err
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return _fail(raw, "uscc", code, "checksum", pos=18, expected=expected)
    authorities = uscc_authorities()
    auth = authorities.get(code[0])
    if auth is None:
        return _fail(raw, "uscc", code, "authority", char=code[0])
    type_name = auth["types"].get(code[1])
    if type_name is None:
        return _fail(raw, "uscc", code, "entity_type", char=code[1], authority=code[0])
    region = region_info(code[2:8])
    if region is None:
        return _fail(raw, "uscc", code, "region", code=code[2:8])
    org_expected = org_code_check_char(code[8:16])
    if code[16] != org_expected:
        return _fail(raw, "uscc", code, "org_code_checksum", expected=org_expected)
    authority, entity_type = _code_names(code[0], code[1])
    return IdentifierCheck(
        input=raw,
        valid=True,
        scheme="uscc",
        normalized=code,
        region=region,
        authority=authority,
        entity_type=entity_type,
    )


@lru_cache(maxsize=128)
def _code_names(authority: str, entity_type: str) -> tuple[CodeName, CodeName]:
    spec = uscc_authorities()[authority]
    return CodeName(authority, spec["name_zh"]), CodeName(entity_type, spec["types"][entity_type])


def check_reg_no(raw: str) -> IdentifierCheck:
    """Validate a 15-digit 工商注册号 (ISO 7064 MOD 11,10). Digit 7 gives the kind of entity."""
    code = normalize(raw)
    if not code:
        return _fail(raw, "reg_no", code, "empty")
    if _excel_number(raw):
        return _fail(raw, "reg_no", code, "excel_number", value=raw.strip())
    if len(code) != 15:
        return _fail(raw, "reg_no", code, "length", expected=15, actual=len(code))
    if err := _alphabet_error(raw, "reg_no", code, "0123456789"):
        return err
    expected = reg_no_check_digit(code[:14])
    if code[14] != expected:
        return _fail(raw, "reg_no", code, "checksum", pos=15, expected=expected)
    kind = _tables()["reg_no"]["kinds"][code[6]]
    return IdentifierCheck(
        input=raw,
        valid=True,
        scheme="reg_no",
        normalized=code,
        region=region_info(code[:6]),
        entity_type=CodeName(code[6], kind),
    )


def check_org_code(raw: str) -> IdentifierCheck:
    """Validate a 9-character 组织机构代码 (GB 11714), with or without the dash before the check."""
    code = normalize(raw)
    if not code:
        return _fail(raw, "org_code", code, "empty")
    if len(code) != 9:
        return _fail(raw, "org_code", code, "length", expected=9, actual=len(code))
    if not _ORG_BODY.fullmatch(code[:8]):
        bad = next(i for i, c in enumerate(code[:8]) if not ("0" <= c <= "9" or "A" <= c <= "Z"))
        return _fail(raw, "org_code", code, "alphabet", pos=bad + 1, char=code[bad])
    if code[8] not in "0123456789X":
        return _fail(raw, "org_code", code, "alphabet", pos=9, char=code[8])
    expected = org_code_check_char(code[:8])
    if code[8] != expected:
        return _fail(raw, "org_code", code, "checksum", pos=9, expected=expected)
    return IdentifierCheck(input=raw, valid=True, scheme="org_code", normalized=code)


def check_resident_id(raw: str) -> IdentifierCheck:
    """Validate an 18-digit 居民身份证号 (GB 11643) with python-stdnum. Messages never contain the
    number itself."""
    code = normalize(raw)
    if not code:
        return _fail(raw, "resident_id", code, "empty")
    if len(code) != 18:
        return _fail(raw, "resident_id", code, "length", expected=18, actual=len(code))
    if not code[:17].isdigit() or code[17] not in "0123456789X":
        bad = next(i for i, c in enumerate(code) if not (c.isdigit() or (i == 17 and c == "X")))
        return _fail(raw, "resident_id", code, "alphabet", pos=bad + 1, char=code[bad])
    # python-stdnum's checks, in its order: check digit, birth date, birth place
    expected = _ric.calc_check_digit(code)
    if code[17] != expected:
        return _fail(raw, "resident_id", code, "checksum", pos=18, expected=expected)
    try:
        year = _ric.get_birth_date(code).year
    except (InvalidComponent, ValueError):
        return _fail(raw, "resident_id", code, "birth_date", value=code[6:14])
    if not _birth_place_known(code[:6], year):
        return _fail(raw, "resident_id", code, "region", code=code[:6])
    return IdentifierCheck(input=raw, valid=True, scheme="resident_id", normalized=code, region=region_info(code[:6]))


def check_tax_no(raw: str) -> IdentifierCheck:
    """Validate a 税务登记号: a USCC (since 2015), or a region code followed by a valid
    organisation code, optionally with a short numeric suffix (15 to 20 characters)."""
    code = normalize(raw)
    if not code:
        return _fail(raw, "tax_no", code, "empty")
    if len(code) == 18 and (as_uscc := check_uscc(code)).valid:
        return IdentifierCheck(input=raw, valid=True, scheme="tax_no", normalized=code, region=as_uscc.region)
    if not 15 <= len(code) <= 20:
        return _fail(raw, "tax_no", code, "length", expected="15-20", actual=len(code))
    region = region_info(code[:6])
    if region is None:
        return _fail(raw, "tax_no", code, "region", code=code[:6])
    org = check_org_code(code[6:15])
    if not org.valid:
        return _fail(raw, "tax_no", code, "org_code_checksum", expected=org_code_check_char(code[6:14]))
    if not code[15:].isdigit() and code[15:]:
        return _fail(raw, "tax_no", code, "alphabet", pos=16, char=code[15])
    return IdentifierCheck(input=raw, valid=True, scheme="tax_no", normalized=code, region=region)


_CHECKERS = {
    "uscc": check_uscc,
    "reg_no": check_reg_no,
    "org_code": check_org_code,
    "resident_id": check_resident_id,
    "tax_no": check_tax_no,
}


def _looks_like_resident_id(code: str) -> bool:
    if not (code[:17].isdigit() and code[17] in "0123456789X"):
        return False
    year, month, day = int(code[6:10]), int(code[10:12]), int(code[12:14])
    return 1880 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def check(raw: str, scheme: str | None = None) -> IdentifierCheck:
    """Validate ``raw`` as ``scheme``, or detect the scheme when none is given.

    Detection: the placeholder; 18 characters are a USCC when valid as one, else a resident ID
    when shaped like one (17 digits, a plausible birth date), else a USCC; 15 digits are a
    registration number unless they only make sense as region + organisation code (tax number);
    9 characters an organisation code. Anything else is ``unknown_scheme``.
    """
    if scheme is not None:
        if scheme not in _CHECKERS:
            raise ValueError(f"unknown identifier scheme {scheme!r}")
        return _CHECKERS[scheme](raw)
    code = normalize(raw)
    if not code:
        return _fail(raw, None, code, "empty")
    if _excel_number(raw):
        return _fail(raw, None, code, "excel_number", value=raw.strip())
    if code == PLACEHOLDER_USCC:
        return check_uscc(raw)
    if len(code) == 18:
        as_uscc = check_uscc(raw)
        if as_uscc.valid or not _looks_like_resident_id(code):
            return as_uscc
        return check_resident_id(raw)
    if len(code) == 15:
        as_reg = check_reg_no(raw)
        if as_reg.valid or code.isdigit():
            return as_reg
        return check_tax_no(raw)
    if len(code) == 9:
        return check_org_code(raw)
    return _fail(raw, None, code, "unknown_scheme", actual=len(code))


def require(raw: str, scheme: str | None = None, *, field: str = "code") -> IdentifierCheck:
    """Like :func:`check`, but raise :class:`ValidationFailed` naming the field, the (masked)
    value and the reason when the code is invalid."""
    result = check(raw, scheme)
    if not result.valid:
        shown = result.public_dict()["input"]
        raise ValidationFailed(
            message=f"{field}: {shown!r} is not valid: {result.message}",
            code=result.reason or "invalid",
            errors=[
                FieldError(field=field, code=result.reason or "invalid", message=result.message or "", value=shown)
            ],
        )
    return result


# --------------------------------------------------------------------------- bulk fast paths

_RESIDENT_ID_PLAIN = re.compile(r"[0-9]{17}[0-9X]")


@lru_cache(maxsize=65536)
def _birth_place_known(region: str, year: int) -> bool:
    """Whether python-stdnum knows ``region`` as a county in ``year`` (its look-up reads only
    the region and the birth year). A region it knows only as a province (``825811``: 澳門)
    makes python-stdnum 2.2 raise ``KeyError`` instead of ``InvalidComponent``: unknown too."""
    try:
        _ric.get_birth_place(f"{region}{year:04d}01010000")
    except (InvalidComponent, KeyError):
        return False
    return True


def valid_normal_resident_id(text: str) -> bool:
    """True when ``text`` is a resident ID already in normal form that
    ``check(text, "resident_id")`` finds valid (its normal form is then ``text``): the same
    checks as python-stdnum's, with the region look-up cached per region and birth year.
    False means "not known valid": the caller runs the full check, which gives the reason."""
    if _RESIDENT_ID_PLAIN.fullmatch(text) is None or text[17] != _ric.calc_check_digit(text):
        return False
    try:
        year = _ric.get_birth_date(text).year
    except InvalidComponent:
        return False
    return _birth_place_known(text[:6], year)


@lru_cache(maxsize=65536)
def _uscc_head_valid(head: str) -> bool:
    """Whether a USCC's first 8 characters name a known authority, entity type and region."""
    authority = uscc_authorities().get(head[0])
    return authority is not None and authority["types"].get(head[1]) is not None and region_info(head[2:8]) is not None


def valid_normal_uscc(text: str) -> bool:
    """True when ``text`` is a USCC already in normal form that ``check(text, "uscc")`` finds
    valid (its normal form is then ``text`` itself): the same checks, without building the
    full answer. False means "not known valid": the caller runs the full check, which gives the
    reason. Almost every USCC of a delivery is unique, so caching the full check does not help."""
    return (
        _USCC_CHARS.fullmatch(text) is not None
        and text[17] == uscc_check_char(text[:17])
        and _uscc_head_valid(text[:8])
        and text[16] == org_code_check_char(text[8:16])
    )


def detected_normal_uscc(text: str) -> bool:
    """True when ``text`` is in normal form and :func:`check` (no scheme given) finds it a
    valid USCC: :func:`valid_normal_uscc`, and not the shape of an Excel number, which the
    detection refuses first (``1E1234567890123456`` could pass the USCC checks)."""
    return valid_normal_uscc(text) and _EXCEL_NUMBER.match(text) is None


_UPPER_ALNUM = re.compile(r"[0-9A-Z]+")
_SCHEME_LENGTHS = frozenset({9, 15, 18})


def unknown_scheme_as_typed(raw: str) -> bool:
    """True when :func:`check` answers ``unknown_scheme`` for ``raw``, told without the full
    check: upper-case ASCII letters and digits (already in normal form), a length no scheme
    has, and not the shape of an Excel number. A batch check meets many truncated codes."""
    return len(raw) not in _SCHEME_LENGTHS and _UPPER_ALNUM.fullmatch(raw) is not None and not _EXCEL_NUMBER.match(raw)

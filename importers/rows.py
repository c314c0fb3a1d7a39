"""Row checks: a raw template row becomes a normalised decision or a list of rejections.

Every problem of a row is reported (not only the first), each with the field, a stable code,
a message in Chinese and English, and the value (personal ID numbers masked). Rules:

- required text present, within its length; 行政相对人类别, 处罚类别 and 证件类型 from the code
  tables (``registry/data/codes.toml``);
- an organisation or individual business needs a valid USCC, or the placeholder
  ``00000000000000000X`` together with a valid 工商注册号, or another valid organisation
  identifier; every identifier given is validated, none is guessed;
- a natural person needs an ID type and a valid ID number;
- codes Excel turned into numbers (``9.14306E+17``, numeric cells past 15 digits) and
  organisation codes that lost their leading zeros are rejected with that reason;
- dates as ``2024-03-05``, ``2024/3/5``, ``20240305``, ``2024年3月5日``, ``2024.3.5`` or an
  Excel date cell; no decision date after today (the registry's clock); no end date before
  the decision date;
- amounts in 万元 as exact decimals, at least 0, at most 6 decimal places; the amount columns
  are required when the penalty types include a fine or a confiscation, and the licence
  column when a licence is suspended or revoked (as the national template says).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from importers.template import Column, by_json, columns
from registry.batches import Rejection
from registry.codes import code_tables
from registry.entities import EntityClaim, Ident
from registry.identifiers import (
    PLACEHOLDER_USCC,
    IdentifierCheck,
    check,
    valid_normal_resident_id,
    valid_normal_uscc,
)
from registry.penalties import DecisionRecord
from registry.privacy import mask_id_number

_SPLIT = re.compile(r"[;；、,，/\s]+")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_EXCEL_EPOCH = date(1899, 12, 30)
SIX_PLACES = Decimal("0.000001")
MAX_AMOUNT = Decimal(10) ** 12  # 万元: far above any real penalty, within NUMERIC(20, 6)
AMOUNT_REASONS = {
    "amount": ("不是数字（单位：万元）", "is not a number (in 万元)"),
    "negative": ("不能为负数", "must not be negative"),
    "precision": ("最多6位小数", "has more than 6 decimal places"),
    "too_large": ("超过1万亿万元，请核对单位（万元）", "is over 10^12 万元; check the unit (万元)"),
    "excel_number": ("是科学计数法，可能被Excel改写，请设为文本或数值格式后重新导出",
                     "is in scientific notation, probably reformatted by Excel; export it as a plain number"),
}  # fmt: skip
TRUE_WORDS = {"是", "y", "yes", "true", "1", "故意", "有"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "无", "非故意"}
ORG_SCHEMES = ("uscc", "reg_no", "org_code", "tax_no", "institution_no", "social_org_no")
EXPECTED_LENGTH = {"uscc": 18, "reg_no": 15, "org_code": 9}
MEMO_LIMIT = 65_536  # entries per memo of a validator; a full memo starts afresh (memory stays bounded)


class _RowErrors(list[Rejection]):
    def add(self, row: int, col: Column | str, code: str, zh: str, en: str, value: Any = None) -> None:
        name = col if isinstance(col, str) else col.json
        self.append(Rejection(row, name, code, zh, en, None if value is None else str(value)[:256]))


def clean_text(value: Any) -> str | None:
    """A cell as trimmed text, or None when empty. Numbers keep their digits."""
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None  # str.strip() also removes the ideographic space U+3000
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip() or None


@lru_cache(maxsize=65536)
def _cached_check(value: str, scheme: str) -> IdentifierCheck:
    return check(value, scheme)


@lru_cache(maxsize=8192)
def parse_date_text(text: str) -> date | None:
    """A date from any of the accepted spellings, or None."""
    text = unicodedata.normalize("NFKC", text).strip()
    text = _TIME_SUFFIX.sub("", text)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


def parse_date(value: Any) -> date | None:
    """A date from a cell: text in any accepted spelling, an Excel date, or an Excel serial
    number (a numeric cell between 1900 and 2100)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 73051:  # 1900-01-01 .. 2099-12-31 as Excel serials
            from datetime import timedelta

            return _EXCEL_EPOCH + timedelta(days=int(value))
        return parse_date_text(str(int(value)))
    text = clean_text(value)
    return parse_date_text(text) if text else None


def parse_amount(value: Any) -> Decimal:
    """An amount in 万元 as an exact decimal with 6 places; raises ValueError with a reason
    code (``amount``, ``negative``, ``precision``, ``too_large``, ``excel_number``)."""
    if isinstance(value, bool):
        raise ValueError("amount")
    if isinstance(value, int | float):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "").replace(" ", "")
        text = text.removesuffix("万元").removesuffix("万")
        if "e" in text.lower():
            raise ValueError("excel_number")  # scientific notation: Excel reformatted the cell
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError("amount") from exc
    if not number.is_finite():
        raise ValueError("amount")
    if number < 0:
        raise ValueError("negative")
    if number >= MAX_AMOUNT:
        raise ValueError("too_large")
    if number != number.quantize(SIX_PLACES):
        raise ValueError("precision")
    return number.quantize(SIX_PLACES)


@lru_cache(maxsize=65536)
def _text_amount(text: str) -> Decimal:
    # amounts repeat; a Decimal is immutable, and failures (ValueError) are not cached
    return parse_amount(text)


class RowValidator:
    """Validates rows against the template, the code tables and the identifier rules."""

    def __init__(self, today: date, *, memo: bool = True) -> None:
        self.today = today
        # Memos of what a raw cell text gave when it was read without an error: identifiers
        # (per scheme), dates and party types. Agencies repeat their own codes on every row
        # and a few hundred dates over a delivery, so most cells are a dict look-up. Only
        # error-free outcomes are kept, and they depend on the text alone, so a memoised row
        # gives exactly what the full checks give (``memo=False`` runs them every time; a
        # property test holds the two equal).
        self.memo = memo
        self._known_idents: dict[str, dict[str, str]] = {}
        self._known_dates: dict[str, date] = {}
        self._known_party_types: dict[str, str] = {}
        self.tables = code_tables()
        self.cols = by_json()
        self.penalty_known = "、".join(self.tables.penalty_types)
        special = {"decision_date", "valid_until", "publish_until", "fine_wan", "confiscated_wan", "deliberate"}
        self.text_columns = [c for c in columns() if not c.identifier and c.json not in special]
        self._text_names = [(c, c.json) for c in self.text_columns]
        # penalty-type spellings read without an error: their types and stored text
        self._known_kinds: dict[str, tuple[tuple[str, ...], str | None]] = {}

    # ---------------------------------------------------------------- identifiers

    def _identifier(self, errors: _RowErrors, row: int, name: str, raw: Any, scheme: str) -> str | None:
        """Validate one identifier cell; returns the normal form, or None (with an error
        added when the cell was filled but invalid)."""
        if raw is None or raw == "":
            return None
        if type(raw) is not str or not self.memo:
            return self._check_identifier(errors, row, name, raw, scheme)
        known = self._known_idents.get(scheme)
        if known is None:
            known = self._known_idents[scheme] = {}
        normal = known.get(raw)
        if normal is not None:
            return normal
        before = len(errors)
        normal = self._check_identifier(errors, row, name, raw, scheme)
        if normal is not None and len(errors) == before:
            if len(known) >= MEMO_LIMIT:
                known.clear()
            known[raw] = normal
        return normal

    def _check_identifier(self, errors: _RowErrors, row: int, name: str, raw: Any, scheme: str) -> str | None:
        col = self.cols[name]
        if isinstance(raw, float) and not raw.is_integer():
            errors.add(
                row,
                col,
                "excel_number",
                f"“{col.header}”被Excel转换成了数字（{raw}），原值已丢失，请设为文本格式后重新导出",
                f"{name} was turned into a number by Excel ({raw}); its digits are lost, export it as text",
                raw,
            )
            return None
        if isinstance(raw, int | float) and len(str(int(raw))) > 15:
            errors.add(
                row,
                col,
                "excel_number",
                f"“{col.header}”超过15位的数字被Excel截断（{raw}），请设为文本格式后重新导出",
                f"{name} has more than 15 digits and Excel cut it ({raw}); export it as text",
                raw,
            )
            return None
        text = clean_text(raw)
        if text is None:
            return None
        if scheme in ("institution_no", "social_org_no"):
            normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
            if len(normal) > 64:
                errors.add(
                    row,
                    col,
                    "too_long",
                    f"“{col.header}”超过64个字符",
                    f"{name} is longer than 64 characters",
                    normal[:64],
                )
                return None
            return normal
        if scheme not in ("uscc", "reg_no", "org_code", "tax_no", "resident_id"):
            normal = re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", text)).upper()
            if not 4 <= len(normal) <= 32:
                errors.add(
                    row,
                    col,
                    "length",
                    f"“{col.header}”长度应在4到32位之间",
                    f"{name} must have 4 to 32 characters",
                    mask_id_number(normal),
                )
                return None
            return normal
        if scheme == "uscc" and valid_normal_uscc(text):
            return text
        if scheme == "resident_id" and valid_normal_resident_id(text):
            return text  # personal IDs are unique: the full check is not worth caching
        result = _cached_check(text, scheme)
        if result.valid:
            return result.normalized
        if result.reason == "placeholder":
            return PLACEHOLDER_USCC
        shown = result.public_dict()["input"]
        expected = EXPECTED_LENGTH.get(scheme)
        digits = (result.normalized or "").isdigit()
        if (
            expected
            and digits
            and result.reason == "length"
            and expected - 3 <= len(result.normalized or "") < expected
        ):
            errors.add(
                row,
                col,
                "leading_zeros",
                f"“{col.header}”少了{expected - len(result.normalized or '')}位，"
                "可能是Excel去掉了开头的0，请设为文本格式后重新导出",
                f"{name} is {expected - len(result.normalized or '')} digit(s) short; Excel may have dropped "
                "leading zeros; export it as text",
                shown,
            )
            return None
        errors.add(
            row,
            col,
            result.reason or "invalid",
            f"“{col.header}”无效：{result.message_zh}",
            f"{name} is not valid: {result.message_en}",
            shown,
        )
        return None

    # ---------------------------------------------------------------- the row

    def validate(self, row: int, raw: dict[str, Any]) -> DecisionRecord | list[Rejection]:
        """A :class:`DecisionRecord`, or every rejection of the row."""
        errors = _RowErrors()
        if "__not_an_object__" in raw:
            errors.add(row, "record", "not_an_object", "记录不是JSON对象", "the record is not a JSON object")
            return errors
        values: dict[str, Any] = {}
        get = raw.get
        for col, json_name in self._text_names:
            value = get(json_name)
            text = (value.strip() or None) if type(value) is str else clean_text(value)
            if text is None:
                if col.required:
                    errors.add(
                        row,
                        col,
                        "required",
                        f"必填项“{col.header}”为空",
                        f"required field {col.json} ({col.header}) is empty",
                    )
                values[json_name] = None
                continue
            if col.max_length and len(text) > col.max_length:
                errors.add(
                    row,
                    col,
                    "too_long",
                    f"“{col.header}”超过{col.max_length}个字符",
                    f"{col.json} is longer than {col.max_length} characters",
                    text[:50],
                )
            values[json_name] = text
        if values.get("decision_no"):
            values["decision_no"] = unicodedata.normalize("NFKC", values["decision_no"])

        for name in ("agency_uscc", "source_uscc"):
            if values.get(name) is not None:
                values[name] = self._identifier(errors, row, name, values[name], "uscc")
                if values[name] == PLACEHOLDER_USCC:
                    col = self.cols[name]
                    errors.add(
                        row,
                        col,
                        "placeholder",
                        f"“{col.header}”不能为占位符",
                        f"{name} cannot be the placeholder",
                        PLACEHOLDER_USCC,
                    )
        kind = self._party_type(errors, row, values)
        idents = self._party_identifiers(errors, row, raw, values, kind)
        self._legal_rep(errors, row, raw, values)
        self._dates(errors, row, raw, values)
        self._penalty(errors, row, raw, values)
        values["deliberate"] = self._deliberate(errors, row, raw.get("deliberate"))
        if errors:
            return errors
        values["party_type"] = kind
        claim = EntityClaim(name=values["name"], idents=tuple(idents), kind=kind, seen_on=values["decision_date"])
        return DecisionRecord(row=row, claim=claim, values=values)

    def _party_type(self, errors: _RowErrors, row: int, values: dict[str, Any]) -> str | None:
        label = values.get("party_type")
        if label is None:
            return None
        known = self._known_party_types.get(label) if self.memo else None
        if known is not None:
            return known
        kind = self.tables.party_types.get(re.sub(r"\s+", "", unicodedata.normalize("NFKC", label)))
        if kind is None:
            kind = self.tables.party_types.get(label)
        if kind is None:
            errors.add(
                row,
                self.cols["party_type"],
                "unknown_code",
                f"行政相对人类别“{label}”不在代码表中，应为：法人及非法人组织、自然人、个体工商户",
                f"party type {label!r} is not one of 法人及非法人组织, 自然人, 个体工商户",
                label,
            )
        elif self.memo and len(self._known_party_types) < MEMO_LIMIT:
            self._known_party_types[label] = kind
        return kind

    def _party_identifiers(
        self, errors: _RowErrors, row: int, raw: dict[str, Any], values: dict[str, Any], kind: str | None
    ) -> list[Ident]:
        found: dict[str, str | None] = {}
        for scheme in ORG_SCHEMES:
            cell = raw.get(scheme)
            # most of these cells are empty: skip the call (it would return None at once)
            found[scheme] = None if cell is None or cell == "" else self._identifier(errors, row, scheme, cell, scheme)
            values[scheme] = found[scheme]
        id_type_label = clean_text(raw.get("id_type"))
        id_scheme = self._id_scheme(errors, row, "id_type", id_type_label)
        values["id_type"] = id_scheme
        id_no = self._identifier(errors, row, "id_no", raw.get("id_no"), id_scheme or "other_id") if id_scheme else None
        values["id_no"] = id_no
        if kind is None:
            return []
        if kind == "natural_person":
            if id_type_label is None:
                errors.add(
                    row, self.cols["id_type"], "required", "自然人须填写证件类型", "a natural person needs an ID type"
                )
            if clean_text(raw.get("id_no")) is None:
                errors.add(
                    row, self.cols["id_no"], "required", "自然人须填写证件号码", "a natural person needs an ID number"
                )
            return [Ident(id_scheme, id_no)] if id_scheme and id_no else []
        idents: list[Ident] = []
        placeholder = found["uscc"] == PLACEHOLDER_USCC
        if placeholder:
            values["uscc"] = None
            if not found["reg_no"]:
                errors.add(
                    row,
                    self.cols["uscc"],
                    "placeholder",
                    "统一社会信用代码为占位符00000000000000000X时，须填写有效的工商注册号",
                    "the placeholder 00000000000000000X needs a valid 15-digit registration number (工商注册号)",
                    PLACEHOLDER_USCC,
                )
        for scheme in ORG_SCHEMES:
            value = values[scheme]
            if value:
                idents.append(Ident(scheme, value))
        if not idents and not placeholder and not any(e.field in ORG_SCHEMES for e in errors):
            errors.add(
                row,
                self.cols["uscc"],
                "identifier_missing",
                "法人及非法人组织、个体工商户须填写统一社会信用代码（或占位符加工商注册号，或其他机构代码）",
                "an organisation or individual business needs a USCC, or the placeholder with a registration "
                "number, or another organisation identifier",
            )
        return idents

    def _id_scheme(self, errors: _RowErrors, row: int, name: str, label: str | None) -> str | None:
        """The identifier scheme an ID-type label (证件类型) names; an unknown label is an error."""
        if label is None:
            return None
        scheme = self.tables.id_types.get(label)
        if scheme is None:
            col = self.cols[name]
            errors.add(row, col, "unknown_code", f"“{col.header}”的值“{label}”不在代码表中",
                       f"{name} {label!r} is not in the code table (身份证, 护照, …)", label)  # fmt: skip
        return scheme

    def _legal_rep(self, errors: _RowErrors, row: int, raw: dict[str, Any], values: dict[str, Any]) -> None:
        label = clean_text(raw.get("legal_rep_id_type"))
        number = raw.get("legal_rep_id_no")
        scheme = self._id_scheme(errors, row, "legal_rep_id_type", label)
        if label is None and clean_text(number) is not None:
            scheme = "resident_id"  # the template's default document
        values["legal_rep_id_type"] = scheme
        values["legal_rep_id_no"] = (
            self._identifier(errors, row, "legal_rep_id_no", number, scheme) if scheme and number is not None else None
        )

    def _date(self, errors: _RowErrors, row: int, raw: dict[str, Any], name: str) -> date | None:
        value = raw.get(name)
        if type(value) is str and self.memo:
            known = self._known_dates.get(value)
            if known is not None:
                return known
        if clean_text(value) is None and not isinstance(value, date | int | float):
            return None
        parsed = parse_date(value)
        col = self.cols[name]
        if parsed is None:
            errors.add(
                row,
                col,
                "date",
                f"“{col.header}”不是有效日期（可用2024-03-05、2024/3/5、20240305、2024年3月5日）",
                f"{name} is not a date (use 2024-03-05, 2024/3/5, 20240305 or 2024年3月5日)",
                value,
            )
        elif type(value) is str and self.memo:
            if len(self._known_dates) >= MEMO_LIMIT:
                self._known_dates.clear()
            self._known_dates[value] = parsed
        return parsed

    def _dates(self, errors: _RowErrors, row: int, raw: dict[str, Any], values: dict[str, Any]) -> None:
        decided = self._date(errors, row, raw, "decision_date")
        if (
            decided is None
            and clean_text(raw.get("decision_date")) is None
            and not isinstance(raw.get("decision_date"), date | int | float)
        ):
            errors.add(
                row,
                self.cols["decision_date"],
                "required",
                "必填项“处罚决定日期”为空",
                "required field decision_date (处罚决定日期) is empty",
            )
        if decided is not None and decided > self.today:
            errors.add(
                row,
                self.cols["decision_date"],
                "future_date",
                f"处罚决定日期{decided}晚于今天{self.today}",
                f"decision date {decided} is after today ({self.today})",
                decided,
            )
        values["decision_date"] = decided
        for name in ("valid_until", "publish_until"):
            parsed = self._date(errors, row, raw, name)
            if parsed is not None and decided is not None and parsed < decided:
                col = self.cols[name]
                errors.add(
                    row,
                    col,
                    "date_order",
                    f"“{col.header}”{parsed}早于处罚决定日期{decided}",
                    f"{name} {parsed} is before the decision date {decided}",
                    parsed,
                )
            values[name] = parsed

    def _penalty(self, errors: _RowErrors, row: int, raw: dict[str, Any], values: dict[str, Any]) -> None:
        text = values.get("penalty_types")
        kinds: list[str] = []
        known_kinds = self._known_kinds.get(text) if text else None
        if known_kinds is not None:  # the same spelling was read before without an error
            kinds = list(known_kinds[0])
            values["penalty_types"] = known_kinds[1]
        elif text:
            before = len(errors)
            for part in _SPLIT.split(unicodedata.normalize("NFKC", text)):
                if not part:
                    continue
                known = self.tables.penalty_type(part)
                if known is None:
                    errors.add(
                        row,
                        self.cols["penalty_types"],
                        "unknown_penalty_type",
                        f"处罚类别“{part}”不在《行政处罚法》第九条所列类别中（{self.penalty_known}）",
                        f"penalty type {part!r} is not one of the Administrative Penalty Law Art. 9 types",
                        part,
                    )
                elif known not in kinds:
                    kinds.append(known)
            if not kinds and len(errors) == before:  # only separators: as good as empty
                col = self.cols["penalty_types"]
                errors.add(
                    row,
                    col,
                    "required",
                    f"必填项“{col.header}”只有分隔符，没有处罚类别",
                    f"required field penalty_types ({col.header}) holds only separators",
                    text,
                )
            values["penalty_types"] = ";".join(kinds) if kinds else None
            if len(errors) == before and len(self._known_kinds) < 10_000:
                self._known_kinds[text] = (tuple(kinds), values["penalty_types"])
        for name in ("fine_wan", "confiscated_wan"):
            values[name] = None
            cell = raw.get(name)
            if clean_text(cell) is None and not isinstance(cell, int | float):
                continue
            col = self.cols[name]
            try:
                values[name] = _text_amount(cell) if type(cell) is str else parse_amount(cell)
            except ValueError as exc:
                reason = str(exc)
                zh = AMOUNT_REASONS[reason][0]
                en = AMOUNT_REASONS[reason][1]
                errors.add(row, col, reason, f"“{col.header}”{zh}", f"{name} {en}", cell)
        needs = (
            ("罚款", "fine_wan"),
            ("没收违法所得", "confiscated_wan"),
            ("没收非法财物", "confiscated_wan"),
            ("暂扣许可证件", "license_affected"),
            ("吊销许可证件", "license_affected"),
        )
        for kind, name in needs:
            if kind in kinds and values.get(name) is None and not any(e.field == name for e in errors):
                col = self.cols[name]
                errors.add(
                    row,
                    col,
                    "required",
                    f"处罚类别含“{kind}”时“{col.header}”必填",
                    f"{name} ({col.header}) is required when the penalty types include {kind}",
                )

    def _deliberate(self, errors: _RowErrors, row: int, value: Any) -> bool | None:
        text = clean_text(value)
        if text is None:
            return None
        word = text.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        errors.add(
            row,
            self.cols["deliberate"],
            "unknown_code",
            f"是否故意“{text}”应为“是”或“否”",
            f"deliberate {text!r} must be 是 or 否",
            text,
        )
        return None

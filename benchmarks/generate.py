"""Deterministic benchmark data: entities and 双公示 deliveries of any size, from a seed.

Entities: valid USCCs spread over current regions and authority codes (mostly enterprises,
individual businesses and cooperatives, some institutions, social organisations and rural
collectives), individual businesses known only by a registration number (placeholder USCC),
and natural persons with resident IDs. Names share words so that search is not trivial.
Decisions: the national template, across years, with a realistic mix of penalty types and a
few percent repeat IP infringers.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

from importers.template import template_headers
from registry.identifiers import USCC_ALPHABET, build_reg_no, build_uscc

HEADERS = template_headers()
AUTHORITY_MIX = [
    ("9", "1", 70),
    ("9", "2", 15),
    ("9", "3", 4),
    ("1", "2", 3),
    ("5", "1", 3),
    ("N", "2", 3),
    ("Y", "1", 2),
]
PLACES = [
    "上海",
    "北京",
    "广州",
    "深圳",
    "杭州",
    "苏州",
    "成都",
    "武汉",
    "南京",
    "普宁",
    "义乌",
    "东莞",
    "泉州",
    "温州",
]
WORDS = [
    "华",
    "盛",
    "鑫",
    "达",
    "宏",
    "源",
    "兴",
    "泰",
    "瑞",
    "祥",
    "康",
    "恒",
    "信",
    "诚",
    "丰",
    "美",
    "佳",
    "优",
    "创",
    "联",
]
TRADES = [
    "贸易",
    "电子科技",
    "服饰",
    "日用品",
    "食品",
    "医药",
    "建材",
    "文化传媒",
    "网络科技",
    "化妆品",
    "五金",
    "汽车配件",
]
FORMS = ["有限公司", "股份有限公司", "商行", "经营部", "厂"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
IP_TYPES = ["商标侵权", "假冒注册商标", "专利侵权", "假冒专利", "侵犯著作权", "制售假冒伪劣商品", "侵犯商业秘密"]
OTHER_TYPES = ["虚假广告", "无照经营", "食品安全", "价格违法", "产品质量不合格", "计量违法", "不正当竞争"]
PENALTY_MIX = [
    ("警告", 25), ("罚款", 40), ("罚款;没收违法所得", 15), ("通报批评", 5), ("罚款;没收非法财物", 6),
    ("罚款;吊销许可证件", 3), ("责令停产停业", 2), ("罚款;责令关闭", 1), ("限制从业", 1), ("罚款;暂扣许可证件", 2),
]  # fmt: skip


@lru_cache(maxsize=1)
def current_regions() -> tuple[str, ...]:
    """County-level division codes in use today (no end year), from python-stdnum's data."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    codes: list[str] = []
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        code, _, rest = line.strip().partition(" ")
        name = rest.split("=", 1)[-1].strip('"').split(",")[-1]
        if code.endswith("00") or (name.startswith("[") and not name.split("]")[0].endswith("-")):
            continue
        if name.startswith("[") and name[1:5].isdigit() and int(name[1:5]) > 1960:
            continue  # created late: resident IDs of people born before it would be invalid
        codes.append(province + code)
    return tuple(codes)


@dataclass(frozen=True)
class Party:
    """One generated entity as the template describes it."""

    name: str
    party_type: str
    uscc: str
    reg_no: str
    id_type: str
    id_no: str


def _weighted(rng: random.Random, options: list[tuple]) -> tuple:
    return rng.choices(options, weights=[o[-1] for o in options])[0]


def _org_body(rng: random.Random) -> str:
    return "".join(
        rng.choice(USCC_ALPHABET[:10] if i else "MA") if i < 2 else rng.choice(USCC_ALPHABET) for i in range(8)
    )


def _resident_id(rng: random.Random, region: str) -> str:
    from stdnum.cn.ric import calc_check_digit

    born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + calc_check_digit(first17 + "0")


def make_parties(count: int, seed: int = 7) -> list[Party]:
    """``count`` distinct parties: about 88% with USCCs, 6% placeholder individual businesses,
    6% natural persons."""
    rng = random.Random(seed)
    regions = current_regions()
    parties: list[Party] = []
    for i in range(count):
        region = rng.choice(regions)
        roll = rng.random()
        name = f"{rng.choice(PLACES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(TRADES)}{rng.choice(FORMS)}"
        if roll < 0.06:
            reg = build_reg_no(f"{region}6{i:07d}")
            parties.append(
                Party(
                    f"{rng.choice(PLACES)}{rng.choice(WORDS)}{rng.choice(TRADES)}店",
                    "个体工商户",
                    "00000000000000000X",
                    reg,
                    "",
                    "",
                )
            )
        elif roll < 0.12:
            person = f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{rng.choice(GIVEN)}"
            parties.append(Party(person, "自然人", "", "", "身份证", _resident_id(rng, region)))
        else:
            authority, etype, _ = _weighted(rng, AUTHORITY_MIX)
            body = f"{_org_body(rng)[:2]}{i:06d}" if i < 10**6 else _org_body(rng)
            uscc = build_uscc(authority, etype, region, body)
            kind = "个体工商户" if (authority, etype) == ("9", "2") else "法人及非法人组织"
            parties.append(Party(name, kind, uscc, "", "", ""))
    return parties


def decision_rows(
    rows: int, *, seed: int = 7, agency: str = "BENCH", agency_uscc: str | None = None
) -> Iterator[list[str]]:
    """``rows`` template rows (without the header) for one delivering agency; a few percent of
    parties are repeat IP infringers with several decisions."""
    rng = random.Random(seed + 1)
    agency_uscc = agency_uscc or build_uscc("1", "1", "310000", "BM000001")
    agency_name = f"{agency}市场监督管理局"
    parties = make_parties(max(1, int(rows * 0.7)), seed)
    repeaters = max(1, len(parties) // 25)  # the first 4% of parties offend again and again
    start = date(2019, 1, 1)
    penalty_kinds = [p[0] for p in PENALTY_MIX]
    penalty_weights = [p[1] for p in PENALTY_MIX]
    for i in range(rows):
        index = rng.randrange(repeaters) if rng.random() < 0.08 else i % len(parties)
        party = parties[index]
        types = rng.choices(penalty_kinds, weights=penalty_weights)[0]
        violation = rng.choice(IP_TYPES) if (index < repeaters or rng.random() < 0.3) else rng.choice(OTHER_TYPES)
        decided = start + timedelta(days=rng.randrange(7 * 365))
        fine = f"{rng.randrange(1, 5000) / 100:.2f}" if "罚款" in types else ""
        confiscated = f"{rng.randrange(1, 900) / 1000:.3f}" if "没收" in types else ""
        licence = f"营业执照 {rng.randrange(10**14, 10**15)}" if ("吊销" in types or "暂扣" in types) else ""
        yield [
            party.name, party.party_type, party.uscc, party.reg_no, "", "", "", "", "", "", "",
            party.id_type, party.id_no, f"{agency}处〔{decided.year}〕{i}号", violation,
            f"当事人{violation}，违法经营额{rng.randrange(1, 500)}万元", "《中华人民共和国商标法》第六十条",
            types, f"{types}，详见决定书", fine, confiscated, licence, decided.isoformat(), "", "",
            agency_name, agency_uscc, agency_name, agency_uscc, "",
        ]  # fmt: skip


def write_csv(path: Path, rows: int, *, seed: int = 7, agency_uscc: str | None = None) -> Path:
    """Write a delivery of ``rows`` rows as UTF-8 CSV."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(decision_rows(rows, seed=seed, agency_uscc=agency_uscc))
    return path


def write_xlsx(path: Path, rows: int, *, seed: int = 7, agency_uscc: str | None = None) -> Path:
    """Write a delivery of ``rows`` rows as XLSX (streamed by openpyxl's write-only mode)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("行政处罚")
    ws.append(HEADERS)
    for row in decision_rows(rows, seed=seed, agency_uscc=agency_uscc):
        ws.append(row)
    wb.save(path)
    return path

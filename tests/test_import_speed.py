"""The import's fast paths give exactly what the full checks and the chunk-by-chunk index give."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from stdnum.cn import ric

from importers import pipeline
from registry.agencies import add_agency
from registry.entities import GRAM, Entity, EntityName, NewEntities, name_grams, search_key
from registry.identifiers import (
    USCC_ALPHABET,
    build_uscc,
    check,
    detected_normal_uscc,
    unknown_scheme_as_typed,
    valid_normal_resident_id,
    valid_normal_uscc,
)
from tests.fixtures.make_fixtures import AGENCY_USCC, HEADERS, good_rows

ALPHABET = USCC_ALPHABET + "IOSVZ"


@st.composite
def usccs(draw: st.DrawFn) -> str:
    """Valid USCCs, valid ones with one character changed, and random strings."""
    body = draw(st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8))
    authority, kind = draw(st.sampled_from([("9", "1"), ("9", "2"), ("N", "2"), ("Y", "1"), ("1", "9"), ("B", "1")]))
    region = draw(st.sampled_from(["310115", "440101", "110105", "999999", "441581"]))
    try:
        code = build_uscc(authority, kind, region, body)
    except ValueError:
        code = authority + kind + region + body + "00"
    if draw(st.booleans()):
        at = draw(st.integers(0, 17))
        code = code[:at] + draw(st.sampled_from(ALPHABET + "a -")) + code[at + 1 :]
    return draw(st.one_of(st.just(code), st.text(alphabet=ALPHABET, min_size=17, max_size=19)))


@settings(max_examples=500, deadline=None)
@given(code=usccs())
def test_the_normal_uscc_fast_path_agrees_with_the_full_check(code: str) -> None:
    full = check(code, "uscc")
    if valid_normal_uscc(code):
        assert full.valid and full.normalized == code
    elif full.valid:
        assert full.normalized != code  # only codes not yet in normal form take the slow path


def test_new_entities_runs() -> None:
    runs = NewEntities()
    runs.add([5, 6, 7])
    runs.add([9, 10])
    runs.add([8])
    runs.add([2])
    assert runs.runs == [[2, 2], [5, 10]] and len(runs) == 7
    assert 2 in runs and 7 in runs and 3 not in runs and 11 not in runs


def test_postings_built_at_the_end_equal_the_names_of_every_entity(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entities created in one chunk and renamed or given another name in later chunks of the
    same batch, beside entities known before: the index holds each entity's names' grams at
    its current name's length, nothing else."""
    with Session(engine) as s:
        add_agency(session=s, code="PD", name="浦东", uscc=AGENCY_USCC)
        s.commit()
    base = good_rows()
    org = next(r for r in base if r["统一社会信用代码"] and r["行政相对人类别"] == "法人及非法人组织")

    def delivery(name: str, rows: list[tuple[str, str, str]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADERS)
            for number, party, uscc in rows:
                row = dict(org) | {"行政处罚决定书文号": number, "行政相对人名称": party, "统一社会信用代码": uscc}
                writer.writerow(["" if row.get(h) is None else str(row[h]) for h in HEADERS])
        return path

    a, b, c = (build_uscc("9", "1", "310115", f"MA{i:06d}") for i in range(1, 4))
    pipeline.import_file(
        engine=engine, path=delivery("1.csv", [("1号", "上海甲公司", a)]), agency_code="PD", principal="t"
    )
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    rows = [
        ("2号", "上海乙贸易有限公司", b),
        ("3号", "上海甲新名称有限公司", a),  # a known entity renamed
        ("4号", "乙", b),  # a new entity (chunk 1) with a second, shorter name
        ("5号", "上海丙", c),
        ("6号", "上海丙", c),
    ]
    result = pipeline.import_file(engine=engine, path=delivery("2.csv", rows), agency_code="PD", principal="t")
    assert result["inserted"] == 5
    with Session(engine) as s:
        current = {e.id: e.name for e in s.exec(select(Entity)).all()}
        expected = {
            (g, bool(st_), len(current[n.entity_id]), n.entity_id)
            for n in s.exec(select(EntityName)).all()
            for g, st_ in name_grams(search_key(n.name))
        }
        stored = {(g, bool(st_), n, e) for g, st_, n, e in s.execute(select(GRAM)).all()}
    assert stored == expected


@settings(max_examples=500, deadline=None)
@given(code=st.one_of(usccs(), st.from_regex(r"[0-9]E\+?[0-9]{15,16}", fullmatch=True)))
def test_the_batch_checks_uscc_fast_path_agrees_with_detection(code: str) -> None:
    """A batch check skips the full check of a code typed in normal form that is a valid USCC
    (``detected_normal_uscc``): only when detection, Excel-number test first, says the same."""
    full = check(code)
    assert detected_normal_uscc(code) == (full.valid and full.scheme == "uscc" and full.normalized == code)


@settings(max_examples=500, deadline=None)
@given(
    code=st.one_of(
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=20),
        st.from_regex(r"[0-9]E\+?[0-9]{1,14}", fullmatch=True),
        st.text(max_size=12),
    )
)
def test_the_batch_checks_unknown_scheme_fast_path_agrees_with_detection(code: str) -> None:
    """A batch check answers ``unknown_scheme`` without the full check only when the full
    check says so too, and shows the code as typed (no scheme: nothing personal to mask)."""
    if unknown_scheme_as_typed(code):
        full = check(code)
        assert full.reason == "unknown_scheme" and full.public_dict()["input"] == code


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """Resident IDs: valid ones over known, retired and unknown regions and any birth date,
    ones with a digit changed, and random strings of digits and X."""
    region = draw(st.sampled_from(["110101", "310115", "440301", "110100", "000000", "999999", "320102", "652901"]))
    birth = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    if draw(st.booleans()):
        birth = f"{draw(st.integers(1850, 2030)):04d}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 31)):02d}"
    body = region + birth + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    code = body + ric.calc_check_digit(body + "0")
    if draw(st.booleans()):
        at = draw(st.integers(0, 17))
        code = code[:at] + draw(st.sampled_from("0123456789Xx -")) + code[at + 1 :]
    return draw(st.one_of(st.just(code), st.text(alphabet="0123456789X", min_size=17, max_size=19)))


@settings(max_examples=1000, deadline=None)
@given(code=resident_ids())
@example(code="82581181280105111X")  # 825811: a province (澳門) without a county, which crashed stdnum's look-up
def test_the_normal_resident_id_fast_path_agrees_with_the_full_check(code: str) -> None:
    full = check(code, "resident_id")
    assert valid_normal_resident_id(code) == (full.valid and full.normalized == code)

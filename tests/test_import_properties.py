"""Property test of the import's promise: whatever a delivery holds, every row is stored or
reported, rows = inserted + updated + unchanged + rejected, and a second delivery of the
same file changes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.pipeline import import_file
from registry.agencies import add_agency
from registry.batches import rejections_of
from tests.fixtures.make_fixtures import AGENCY_USCC, HEADERS, good_rows

GARBAGE = st.one_of(
    st.just(""),
    st.just("9.13101E+17"),
    st.just("00000000000000000X"),
    st.just("2099-01-01"),
    st.just("-5"),
    st.text(alphabet="甲乙丙0123456789XAB-/年月日 ;、", max_size=20),
)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[str]]:
    rows = []
    base = good_rows()
    for _ in range(draw(st.integers(1, 12))):
        row = dict(base[draw(st.integers(0, len(base) - 1))])
        row["行政处罚决定书文号"] = f"沪市监浦处〔2024〕P{draw(st.integers(0, 6))}号"  # duplicates happen
        for header in draw(st.lists(st.sampled_from(HEADERS), max_size=3)):
            row[header] = draw(GARBAGE)
        rows.append(["" if row.get(h) is None else str(row[h]) for h in HEADERS])
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=deliveries())
def test_every_row_is_stored_or_reported(engine: Engine, tmp_path: Path, rows: list[list[str]]) -> None:
    # the database is shared by the examples: later deliveries meet earlier ones' records
    with Session(engine) as s:
        from registry.agencies import list_agencies

        if not list_agencies(session=s):
            add_agency(session=s, code="PD", name="浦东", uscc=AGENCY_USCC)
            s.commit()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    path = tmp_path / "delivery.csv"
    path.write_text(out.getvalue(), encoding="utf-8")

    first = import_file(engine=engine, path=path, agency_code="PD", principal="t")
    assert first["rows"] == len(rows)
    assert first["rows"] == first["inserted"] + first["updated"] + first["unchanged"] + first["rejected"]
    with Session(engine) as s:
        reported = {r.row for r in rejections_of(session=s, batch_id=first["batch_id"])}
    assert len(reported) == first["rejected"]
    assert reported <= set(range(2, len(rows) + 2))

    again = import_file(engine=engine, path=path, agency_code="PD", principal="t")
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert again["unchanged"] == first["inserted"] + first["updated"] + first["unchanged"]

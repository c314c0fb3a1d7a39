"""Deliveries: every row stored or explained, idempotent, same records from every format,
updates keep history, a failed batch leaves nothing behind."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers import pipeline
from importers.pipeline import import_file
from registry.agencies import add_agency
from registry.batches import ImportBatch, rejections_of
from registry.db import make_engine, upgrade
from registry.entities import Entity, EntityIdentifier, lookup
from registry.errors import ValidationFailed
from registry.penalties import CONTENT_FIELDS, PenaltyDecision, history_of
from tests.fixtures.make_fixtures import AGENCY_USCC, PERSON_ID, bad_rows, csv_text, good_rows

FIXTURES = Path(__file__).parent / "fixtures"
KILL_ROWS = 150_000
KILL_AFTER_SECONDS = 4.0
GOOD = ["good_utf8.csv", "good_utf8_bom.csv", "good_gb18030.csv", "good_utf16.txt", "good.xlsx", "good.json"]
ENCODINGS = {
    "good_utf8.csv": "utf-8",
    "good_utf8_bom.csv": "utf-8-sig",
    "good_gb18030.csv": "gb18030",
    "good_utf16.txt": "utf-16",
    "good.xlsx": None,
    "good.json": "utf-8",
}


@pytest.fixture
def agency(session: Session) -> str:
    add_agency(session=session, code="PD", name="上海市浦东新区市场监督管理局", uscc=AGENCY_USCC)
    session.commit()
    return "PD"


def run_import(engine: Engine, name: str | Path, agency: str = "PD") -> dict:
    path = name if isinstance(name, Path) else FIXTURES / name
    return import_file(engine=engine, path=path, agency_code=agency, principal="cli:test")


def dump(engine: Engine) -> list[tuple]:
    """Stored decisions, comparable across databases."""
    with Session(engine) as s:
        rows = s.execute(select(PenaltyDecision).order_by(PenaltyDecision.decision_no, PenaltyDecision.name)).scalars()
        return [tuple([r.decision_no] + [getattr(r, f) for f in CONTENT_FIELDS]) for r in rows]


def accounted(result: dict) -> bool:
    return result["rows"] == result["inserted"] + result["updated"] + result["unchanged"] + result["rejected"]


@pytest.mark.parametrize("name", GOOD)
def test_every_format_and_encoding_imports_all_rows(engine: Engine, agency: str, name: str) -> None:
    result = run_import(engine, name)
    assert (result["rows"], result["inserted"], result["rejected"]) == (8, 8, 0)
    assert result["encoding"] == ENCODINGS[name] and accounted(result)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PenaltyDecision)) == 8
        # the joint case is two decisions; the company with three decisions is one entity
        assert s.scalar(select(func.count()).select_from(Entity)) == 5


@pytest.mark.parametrize("name", GOOD[1:])
def test_every_format_stores_the_same_records(fresh_database, name: str) -> None:  # type: ignore[no-untyped-def]
    dumps = []
    for file_name in ("good_utf8.csv", name):
        engine = make_engine(fresh_database())
        upgrade(engine)
        with Session(engine) as s:
            add_agency(session=s, code="PD", name="浦东", uscc=AGENCY_USCC)
            s.commit()
        run_import(engine, file_name)
        dumps.append(dump(engine))
        engine.dispose()
    assert dumps[0] == dumps[1] and len(dumps[0]) == 8


def test_second_delivery_changes_nothing_and_xlsx_after_csv_inserts_nothing(engine: Engine, agency: str) -> None:
    first = run_import(engine, "good_utf8.csv")
    before = dump(engine)
    again = run_import(engine, "good_utf8.csv")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 8)
    as_xlsx = run_import(engine, "good.xlsx")
    assert (as_xlsx["inserted"], as_xlsx["updated"], as_xlsx["unchanged"]) == (0, 0, 8)
    assert dump(engine) == before and first["batch_id"] != again["batch_id"]


def test_stored_values_are_exact_and_normalised(engine: Engine, agency: str) -> None:
    run_import(engine, "good.xlsx")
    with Session(engine) as s:
        d = s.execute(
            select(PenaltyDecision).where(PenaltyDecision.decision_no == "沪市监浦处〔2024〕101号")
        ).scalar_one()
        assert d.fine_wan == Decimal("5") and isinstance(d.fine_wan, Decimal)
        assert d.confiscated_wan == Decimal("0.123456")
        assert d.penalty_types == "罚款;没收违法所得" and str(d.decision_date) == "2024-03-05"
        placeholder = s.execute(select(PenaltyDecision).where(PenaltyDecision.name == "浦东某某小吃店")).scalar_one()
        assert placeholder.uscc is None and placeholder.reg_no  # the placeholder is never stored
        person = lookup(session=s, code=PERSON_ID)
        assert person.kind == "natural_person"
        shop = s.execute(select(PenaltyDecision).where(PenaltyDecision.name == "浦东某某日用品店")).scalar_one()
        assert s.get(Entity, shop.entity_id).kind == "individual_business"  # type: ignore[union-attr]
        ids = s.execute(select(EntityIdentifier.value)).scalars().all()
        assert "00000000000000000X" not in ids


EXPECTED_CODES = {
    "checksum": ("uscc", "checksum"),
    "excel_number": ("uscc", "excel_number"),
    "placeholder": ("uscc", "placeholder"),
    "identifier_missing": ("uscc", "identifier_missing"),
    "required": ("facts", "required"),
    "unknown_code": ("party_type", "unknown_code"),
    "unknown_penalty_type": ("penalty_types", "unknown_penalty_type"),
    "separators_only": ("penalty_types", "required"),
    "date": ("decision_date", "date"),
    "future_date": ("decision_date", "future_date"),
    "date_order": ("publish_until", "date_order"),
    "amount": ("fine_wan", "amount"),
    "negative": ("fine_wan", "negative"),
    "precision": ("fine_wan", "precision"),
    "required_fine": ("fine_wan", "required"),
    "leading_zeros": ("org_code", "leading_zeros"),
    "resident_id_checksum": ("id_no", "checksum"),
    "agency_uscc": ("agency_uscc", "length"),
    "duplicate_in_file": ("decision_no", "duplicate_in_file"),
}


def test_every_bad_row_is_reported_with_row_field_and_reason(engine: Engine, agency: str, set_today) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    set_today(date(2026, 11, 22))
    result = run_import(engine, "mixed.csv")
    good, bad = good_rows(), bad_rows()
    assert result["rows"] == len(good) + len(bad) and accounted(result)
    assert (result["inserted"], result["rejected"]) == (len(good), len(bad))
    with Session(engine) as s:
        found = {(r.row, r.field, r.code) for r in rejections_of(session=s, batch_id=result["batch_id"])}
        messages = [r.message_zh + r.message_en for r in rejections_of(session=s, batch_id=result["batch_id"])]
    for index, row in enumerate(bad):
        rowno = len(good) + index + 2  # header is row 1
        field, code = EXPECTED_CODES[str(row["备注"])]
        assert (rowno, field, code) in found, (row["备注"], sorted(found))
    assert all(messages)


def test_rejections_never_show_a_full_resident_id(engine: Engine, agency: str, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    caplog.set_level(logging.DEBUG)
    result = run_import(engine, "mixed.csv")
    report = tmp_path / "report.csv"
    from importers.report import write_report

    with Session(engine) as s:
        write_report(rejections_of(session=s, batch_id=result["batch_id"]), report)
    body = report.read_text(encoding="utf-8-sig")
    assert "110101199003074518" not in body and "110101********4518" in body
    assert "110101199003074518" not in caplog.text and PERSON_ID not in caplog.text


def test_a_changed_row_updates_and_keeps_history(engine: Engine, agency: str, tmp_path: Path) -> None:
    first = run_import(engine, "good_utf8.csv")
    rows = good_rows()
    rows[1]["罚款金额（万元）"] = Decimal("15")
    changed = tmp_path / "changed.csv"
    changed.write_text(csv_text(rows), encoding="utf-8")
    second = run_import(engine, changed)
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 1, 7)
    with Session(engine) as s:
        d = s.execute(
            select(PenaltyDecision).where(PenaltyDecision.decision_no == "沪市监浦处〔2025〕7号")
        ).scalar_one()
        assert (
            d.fine_wan == Decimal("15")
            and d.first_batch_id == first["batch_id"]
            and d.last_batch_id == second["batch_id"]
        )
        (old,) = history_of(session=s, decision_id=d.id or 0)
        assert old.change == "update" and old.batch_id == second["batch_id"]
        assert Decimal(old.previous["fine_wan"]) == Decimal("12.5")
    assert run_import(engine, changed)["unchanged"] == 8


def test_missing_columns_refuse_the_file_naming_each(engine: Engine, agency: str, tmp_path: Path) -> None:
    text_in = (
        (FIXTURES / "good_utf8.csv")
        .read_bytes()
        .decode("utf-8")
        .replace("违法事实", "事实")
        .replace("处罚依据", "依据")
    )
    path = tmp_path / "missing.csv"
    path.write_text(text_in, encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        run_import(engine, path)
    assert info.value.code == "missing_columns"
    assert {e.field for e in info.value.errors} == {"facts", "basis"}
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_headers_with_codes_markers_and_full_width_brackets(engine: Engine, agency: str, tmp_path: Path) -> None:
    from importers.template import columns

    text_in = (FIXTURES / "good_utf8.csv").read_bytes().decode("utf-8")
    header, rest = text_in.split("\r\n", 1)
    cols = header.split(",")
    by_header = {c.header: c for c in columns()}
    renamed = []
    for i, h in enumerate(cols):
        col = by_header[h]
        renamed.append([col.code or h, f"*{h}", f" {h}（必填）", col.json][i % 4])
    path = tmp_path / "codes.csv"
    path.write_text(",".join(renamed).replace("罚款金额(万元)", "罚款金额（万元）") + "\r\n" + rest, encoding="utf-8")
    assert run_import(engine, path)["inserted"] == 8


def test_a_failure_midway_leaves_no_partial_batch_and_a_rerun_completes(
    engine: Engine, agency: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.load_decisions
    calls = {"n": 0}

    def failing(**kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(**kw)

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 3)
    monkeypatch.setattr(pipeline, "load_decisions", failing)
    with pytest.raises(RuntimeError):
        run_import(engine, "good_utf8.csv")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PenaltyDecision)) == 0
        assert s.scalar(select(func.count()).select_from(Entity)) == 0
        failed = s.execute(select(ImportBatch)).scalar_one()
        assert failed.status == "failed" and "disk full" in (failed.error or "")
    monkeypatch.setattr(pipeline, "load_decisions", real)
    result = run_import(engine, "good_utf8.csv")
    assert result["inserted"] == 8 and result["status"] == "completed"


def test_the_final_commit_holds_the_rows_the_batch_record_and_its_audit_event(
    engine: Engine, agency: str, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """An import's one commit holds its decisions, its batch record (completed, with counts)
    and its audit event together: seen from another connection the moment that commit is
    made, all are there. On SQLite the WAL is then emptied, and the file holds it all."""
    import registry.db as db

    seen: list[tuple] = []
    real = db.commit_and_truncate

    def observed(dbapi: object) -> None:
        real(dbapi)
        with engine.connect() as other:  # what another reader sees right after the commit
            seen.append(
                (
                    other.execute(select(func.count()).select_from(PenaltyDecision)).scalar_one(),
                    other.execute(text("SELECT status, inserted FROM import_batch")).one(),
                    other.execute(text("SELECT count(*) FROM audit_event WHERE action = 'import'")).scalar_one(),
                )
            )

    monkeypatch.setattr(db, "commit_and_truncate", observed)
    result = run_import(engine, "good_utf8.csv")
    assert result["inserted"] == 8
    if backend != "sqlite":
        assert seen == []
        return
    assert seen == [(8, ("completed", 8), 1)]
    database = engine.url.database or ""
    assert Path(f"{database}-wal").stat().st_size == 0


def test_killing_the_process_midway_leaves_nothing(
    database_url: str, engine: Engine, agency: str, tmp_path: Path
) -> None:
    from registry.identifiers import build_uscc
    from tests.fixtures.make_fixtures import HEADERS

    template = good_rows()[3]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for i in range(KILL_ROWS):
        row = dict(template)
        row["统一社会信用代码"] = build_uscc("9", "2", "310115", f"K{i:07d}")
        row["行政处罚决定书文号"] = f"沪市监浦处〔2024〕K{i}号"
        writer.writerow(["" if row.get(h) is None else str(row[h]) for h in HEADERS])
    big = tmp_path / "big.csv"
    big.write_text(out.getvalue(), encoding="utf-8")
    env = {**os.environ, "XINYONG_DATABASE_URL": database_url}
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "import", str(big), "--agency", agency],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    time.sleep(KILL_AFTER_SECONDS)
    assert proc.poll() is None, (
        f"the import ended (exit {proc.returncode}) before it could be killed: {errors.read_text()[-2000:]}"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the file is large enough for the parallel path: its reader process must not outlive it
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _processes_reading(big):
        time.sleep(0.2)
    assert not _processes_reading(big)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PenaltyDecision)) == 0
        assert s.scalar(select(func.count()).select_from(Entity)) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM import_batch WHERE status = 'completed'")).scalar() == 0


def _processes_reading(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if "importers.worker" in cmdline and str(path) in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("name", ["good_utf8.csv", "good.xlsx", "mixed.csv"])
def test_the_parallel_reader_gives_the_same_batch_as_inline(fresh_database, name: str) -> None:  # type: ignore[no-untyped-def]
    outcomes = []
    for parallel in (False, True):
        engine = make_engine(fresh_database())
        upgrade(engine)
        with Session(engine) as s:
            add_agency(session=s, code="PD", name="浦东", uscc=AGENCY_USCC)
            s.commit()
        result = import_file(engine=engine, path=FIXTURES / name, agency_code="PD", principal="t", parallel=parallel)
        with Session(engine) as s:
            found = [(r.row, r.field, r.code) for r in rejections_of(session=s, batch_id=result["batch_id"])]
        outcomes.append(({k: result[k] for k in ("rows", "inserted", "rejected")}, found, dump(engine)))
        engine.dispose()
    assert outcomes[0] == outcomes[1]


def test_generated_benchmark_data_is_valid(engine: Engine, tmp_path: Path) -> None:
    from benchmarks.generate import write_csv, write_xlsx

    with Session(engine) as s:
        add_agency(session=s, code="BENCH", name="基准", uscc=build_uscc_for_bench())
        s.commit()
    for writer, name in ((write_csv, "g.csv"), (write_xlsx, "g.xlsx")):
        path = writer(tmp_path / name, 3000, seed=11)
        result = import_file(engine=engine, path=path, agency_code="BENCH", principal="t")
        assert result["rejected"] == 0 and result["rows"] == 3000
    with Session(engine) as s:
        kinds = dict(s.execute(select(Entity.kind, func.count()).group_by(Entity.kind)).all())
    assert set(kinds) == {"organisation", "individual_business", "natural_person"}


def build_uscc_for_bench() -> str:
    from registry.identifiers import build_uscc

    return build_uscc("1", "1", "310000", "BM000001")


def test_reject_report_as_xlsx(engine: Engine, agency: str, tmp_path: Path) -> None:
    from importers.report import write_report

    result = run_import(engine, "mixed.csv")
    path = tmp_path / "r.xlsx"
    with Session(engine) as s:
        n = write_report(rejections_of(session=s, batch_id=result["batch_id"]), path)
    rows = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("行号", "字段", "原因代码") and len(rows) == n + 1 and n >= result["rejected"]

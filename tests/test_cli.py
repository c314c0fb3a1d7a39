"""The xinyong command line: contract output, one-line errors with exit 1, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect
from sqlmodel import Session, select

from api.cli import main
from registry.access import ApiKey, authenticate
from registry.audit import list_events
from registry.db import make_engine
from registry.identifiers import build_uscc

CONTRACT_FIELDS = {"input", "valid", "scheme", "normalized", "reason", "region", "authority", "entity_type"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_id_check_json_acceptance_cases(capsys: pytest.CaptureFixture[str]) -> None:
    wrong_org = "91110000600037342"
    from registry.identifiers import uscc_check_char

    wrong_org += uscc_check_char(wrong_org)
    rural = build_uscc("N", "2", "110105", "MA000001")
    cases = {
        "91110000600037341L": (True, "uscc", None),
        "91110000600037341N": (False, "uscc", "checksum"),
        wrong_org: (False, "uscc", "org_code_checksum"),
        rural: (True, "uscc", None),
        build_uscc("9", "1", "990000", "60003734"): (False, "uscc", "region"),
        "00000000000000000X": (False, "uscc", "placeholder"),
        "310115600985533": (True, "reg_no", None),
        "９１１１００００６０００３７３４１Ｌ": (True, "uscc", None),
    }
    code, out, err = run(capsys, "id", "check", "--json", *cases)
    assert code == 0 and err == ""
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(cases)
    for line, (typed, (valid, scheme, reason)) in zip(lines, cases.items(), strict=True):
        assert set(line) >= CONTRACT_FIELDS
        assert line["input"] == typed
        assert (line["valid"], line["scheme"], line["reason"]) == (valid, scheme, reason), typed
    assert lines[-1]["normalized"] == "91110000600037341L"


def test_id_check_human_output_and_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "id", "check", "91110000600037341L", "110101199003074514")
    assert code == 0 and "valid" in out and "北京市" in out
    assert "110101199003074514" not in out and "110101********4514" in out
    code, out, err = run(capsys, "id", "check", "--strict", "91110000600037341N")
    assert code == 1 and "INVALID" in out and err.strip() == "error: 1 of 1 codes are invalid"


def test_init_twice_gives_the_same_schema(capsys: pytest.CaptureFixture[str], fresh_database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database()
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    from registry.config import reload_settings

    reload_settings()
    snapshots = []
    for _ in range(2):
        code, out, err = run(capsys, "init")
        assert code == 0 and "schema ready at revision" in out, err
        engine = make_engine(url)
        insp = inspect(engine)
        snapshots.append(
            {t: sorted((c["name"], str(c["type"])) for c in insp.get_columns(t)) for t in insp.get_table_names()}
            | {f"{t}#ix": sorted(i["name"] or "" for i in insp.get_indexes(t)) for t in insp.get_table_names()}
        )
        engine.dispose()
    assert snapshots[0] == snapshots[1]
    assert {"entity", "entity_identifier", "agency", "api_key", "audit_event"} <= set(snapshots[0])


def test_agency_add_key_create_and_revoke(capsys: pytest.CaptureFixture[str], session: Session) -> None:
    uscc = build_uscc("1", "1", "310000", "CL000001")
    code, out, _ = run(capsys, "agency", "add", "SAMR-SH", "--name", "上海市市场监督管理局", "--uscc", uscc)
    assert code == 0 and "SAMR-SH" in out
    code, out, _ = run(capsys, "key", "create", "--role", "agency", "--agency", "SAMR-SH", "--name", "case system")
    raw = out.strip()
    assert code == 0 and "\n" not in raw and raw.startswith("xy_")  # the key alone on stdout
    assert authenticate(session=session, raw_key=raw).agency_code == "SAMR-SH"
    code, out, _ = run(capsys, "key", "list")
    assert raw[:11] in out and raw not in out
    code, out, _ = run(capsys, "key", "revoke", raw[:11])
    assert code == 0
    session.expire_all()
    assert session.exec(select(ApiKey)).one().revoked_at is not None
    actions = {e.action for e in list_events(session=session)[0]}
    assert {"agency.add", "key.create", "key.revoke"} <= actions


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["agency", "add", "X", "--name", "n", "--uscc", "123"], "uscc"),
        (["key", "create", "--role", "agency"], "--agency"),
        (["key", "create", "--role", "agency", "--agency", "NOPE"], "NOPE"),
        (["key", "create"], "--role"),
        (["key", "revoke", "xy_nothing"], "xy_nothing"),
        (["nonsense"], "nonsense"),
        (["id", "check", "--scheme", "iban", "x"], "iban"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], database_url: str, argv: list[str], needle: str
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and needle in err
    assert "Traceback" not in err


def test_commands_before_init_say_how_to_mend(capsys: pytest.CaptureFixture[str], fresh_database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_database())
    from registry.config import reload_settings

    reload_settings()
    code, _, err = run(capsys, "agency", "list")
    assert code == 1 and "xinyong init" in err and len(err.strip().splitlines()) == 1


def test_console_script_in_a_real_process_unreachable_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "XINYONG_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "agency", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: database error") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_demo_loads_and_is_safe_to_rerun(capsys: pytest.CaptureFixture[str], session: Session) -> None:
    for _ in range(2):
        code, out, _ = run(capsys, "demo")
        assert code == 0 and "admin" in out
    from registry.agencies import list_agencies
    from registry.entities import Entity

    assert len(list_agencies(session=session)) == 3
    assert len(session.exec(select(Entity)).all()) == 6  # the legacy reg_no was linked, not duplicated; one person
    from registry.batches import ImportBatch

    batches = session.exec(select(ImportBatch)).all()
    assert [(b.inserted, b.unchanged, b.rejected) for b in batches] == [(6, 0, 0), (0, 6, 0)]


def test_import_json_summary_reject_report_and_revoke(
    capsys: pytest.CaptureFixture[str], session: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from tests.fixtures.make_fixtures import AGENCY_USCC

    fixtures = Path(__file__).parent / "fixtures"
    assert run(capsys, "agency", "add", "PD", "--name", "浦东", "--uscc", AGENCY_USCC)[0] == 0
    report = tmp_path / "rejected.csv"
    code, out, err = run(
        capsys, "import", str(fixtures / "mixed.csv"), "--agency", "PD", "--json", "--reject-report", str(report)
    )
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert set(summary) == {"batch_id", "rows", "inserted", "updated", "unchanged", "rejected"}
    assert summary["rows"] == summary["inserted"] + summary["updated"] + summary["unchanged"] + summary["rejected"]
    lines = report.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("行号,字段,原因代码") and len(lines) > summary["rejected"]
    code, out, _ = run(capsys, "import", str(fixtures / "good.xlsx"), "--agency", "PD")
    assert code == 0 and "0 inserted" in out and "8 unchanged" in out
    code, out, _ = run(
        capsys, "revoke", "--agency", "PD", "--decision-no", "沪市监浦处〔2024〕500号", "--reason", "复议撤销"
    )
    assert code == 0 and "revoked 2" in out
    code, _, err = run(capsys, "revoke", "--agency", "PD", "--decision-no", "沪市监浦处〔2024〕500号", "--reason", "x")
    assert code == 1 and "no active decision" in err
    code, _, err = run(capsys, "import", str(tmp_path / "none.csv"), "--agency", "PD")
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "import", str(fixtures / "good.json"), "--agency", "NOPE")
    assert code == 1 and "NOPE" in err

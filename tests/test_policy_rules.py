"""Rules and measures are data: a new rule of an existing shape and a different measures
catalogue come from XINYONG_POLICY with no code; checks return catalogue measures only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.routers.checks import _codes_from_csv
from tests.helpers import bearer
from tests.test_blacklist import COMPANY, deliver, listings, record

POLICY = """
[[blacklist.rules]]
id = "false_ads_thrice"
title = "屡次虚假宣传"
basis = "测试依据：两年内三次虚假宣传"
violation_types = ["虚假广告"]
min_count = 3
window_months = 24

[[sanctions.measures]]
code = "honours_only"
name = "不得参加评先评优"
action = "honours"
applied_by = "评选表彰部门"
basis = "测试依据"
rules = ["false_ads_thrice"]
"""


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.config import reload_settings

    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("XINYONG_POLICY", str(path))
    reload_settings()


def test_a_new_rule_and_catalogue_from_the_policy_file(
    policy: None,
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_today(date(2025, 6, 12))
    ads = [
        record(f"A-{n}", day, violation_type="虚假广告")
        for n, day in enumerate([date(2024, 1, 5), date(2024, 9, 1), date(2025, 6, 1)])
    ]
    deliver(client, keys["pd"], *ads[:2])
    assert listings(client, keys["admin"]) == []  # two are not three
    deliver(client, keys["pd"], ads[2])
    [proposal] = listings(client, keys["admin"], "proposed")
    assert proposal["rule"] == "false_ads_thrice" and proposal["basis"] == "测试依据：两年内三次虚假宣传"
    # IP decisions no longer qualify: the shipped rules were replaced
    deliver(
        client,
        keys["pd"],
        record("B-1", date(2025, 6, 2), uscc=COMPANY, penalty_types="吊销许可证件", license_affected="营业执照"),
    )
    assert len(listings(client, keys["admin"])) == 1
    set_today(date(2025, 6, 20))
    client.post(
        f"/api/v1/listings/{proposal['id']}/decide",
        json={"decision": "list", "reason": "x"},
        headers=bearer(keys["admin"]),
    )
    # only catalogue measures, only where they bite
    honours = client.post("/api/v1/checks", json={"code": COMPANY, "action": "honours"}, headers=bearer(keys["pd"]))
    assert honours.json()["decision"] == "restricted"
    assert [m["code"] for m in honours.json()["measures"]] == ["honours_only"]
    financing = client.post(
        "/api/v1/checks", json={"code": COMPANY, "action": "financing"}, headers=bearer(keys["bank"])
    )
    assert financing.json()["decision"] == "clear" and financing.json()["measures"] == []


def test_a_policy_measure_with_an_unknown_action_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.config import reload_settings
    from registry.errors import ValidationFailed
    from registry.policy import sanctions_policy

    path = tmp_path / "policy.toml"
    path.write_text(POLICY.replace('action = "honours"', 'action = "lunch"'), encoding="utf-8")
    monkeypatch.setenv("XINYONG_POLICY", str(path))
    reload_settings()
    with pytest.raises(ValidationFailed, match="honours_only"):
        sanctions_policy()


CODE = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    codes=st.lists(CODE, min_size=1, max_size=30),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    header=st.sampled_from(["统一社会信用代码", "code", "代码"]),
)
def test_loan_book_csv_codes_come_back_in_order(codes: list[str], encoding: str, header: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["借款人", header])
    for n, code in enumerate(codes):
        writer.writerow([f"客户{n}", code])
    assert _codes_from_csv(buffer.getvalue().encode(encoding)) == codes

"""Request and response schemas of the HTTP API (apart from the tables, which do not validate).

Field descriptions carry the Chinese terms users read in the OpenAPI docs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class RegionOut(BaseModel):
    """行政区划 named by a code."""

    code: str = Field(description="行政区划代码 (GB/T 2260) / region code")
    province: str | None = Field(description="省级行政区 / province")
    name: str = Field(description="区划名称 / division name")
    historical: bool = Field(description="该代码是否已撤销（旧代码在旧信用代码中仍有效）/ retired code")


class CodeNameOut(BaseModel):
    """A one-character code and its meaning."""

    code: str
    name: str


class IdentifierCheckOut(BaseModel):
    """标识码校验结果 / result of an identifier check (CONTRACT.md)."""

    input: str = Field(description="输入值（身份证号已脱敏）/ the input (resident IDs masked)")
    valid: bool = Field(description="是否有效 / valid")
    scheme: Literal["uscc", "reg_no", "org_code", "resident_id", "tax_no"] | None = Field(
        description="代码类型：统一社会信用代码 uscc、工商注册号 reg_no、组织机构代码 org_code、"
        "居民身份证号 resident_id、税务登记号 tax_no / detected scheme"
    )
    normalized: str | None = Field(description="规范化后的代码 / normal form")
    reason: str | None = Field(description="无效原因代码 / stable reason code when invalid")
    message_zh: str | None = Field(description="中文说明 / message in Chinese")
    message_en: str | None = Field(description="英文说明 / message in English")
    region: RegionOut | None = Field(description="登记机关所在行政区划 / region from the code")
    authority: CodeNameOut | None = Field(description="登记管理部门（第1位）/ registering authority")
    entity_type: CodeNameOut | None = Field(description="机构类别（第2位）/ entity type")


class IdentifierOut(BaseModel):
    """One identifier of an entity."""

    scheme: str = Field(description="代码类型 / scheme")
    value: str = Field(description="代码（身份证号已脱敏）/ value, resident IDs masked")


class EntityPublic(BaseModel):
    """市场主体公开信息 / public profile of an entity."""

    uscc: str | None = Field(description="统一社会信用代码")
    name: str = Field(description="名称 / current name")
    kind: str = Field(
        description="主体类别：organisation 法人及非法人组织、individual_business 个体工商户、natural_person 自然人"
    )
    identifiers: list[IdentifierOut] = Field(description="全部标识码 / every identifier")
    former_names: list[str] = Field(description="曾用名 / former names")
    region: RegionOut | None = Field(description="所在行政区划（取自统一社会信用代码）")
    penalties: list[dict[str, Any]] = Field(description="公示中的行政处罚 / published penalties")
    listing: dict[str, Any] | None = Field(description="当前公示的严重失信主体名单记录 / current published listing")
    repairs: list[dict[str, Any]] = Field(default=[], description="信用修复记录 / approved credit repairs")


class AgencyCreate(BaseModel):
    """新增行政机关 / a new agency."""

    code: str = Field(description="机关代码（自定，如 SAMR-SH）/ short code", examples=["SAMR-SH"])
    name: str = Field(description="机关名称 / name", examples=["上海市市场监督管理局"])
    uscc: str = Field(description="机关统一社会信用代码 / the agency's USCC")


class AgencyOut(BaseModel):
    """An agency."""

    code: str
    name: str
    uscc: str
    created_at: datetime


class AgencyList(BaseModel):
    """A page of agencies."""

    data: list[AgencyOut]
    count: int


class PrincipalOut(BaseModel):
    """调用者身份 / who the key stands for."""

    role: str
    agency: str | None
    key_prefix: str
    name: str | None


class AuditEventOut(BaseModel):
    """审计日志条目 / one audit event."""

    id: int
    at: datetime
    principal: str
    role: str
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any] | None


class AuditList(BaseModel):
    """A page of audit events, newest first."""

    data: list[AuditEventOut]
    count: int


class BatchSummary(BaseModel):
    """导入批次结果 / the summary of one delivery (rows = inserted + updated + unchanged + rejected)."""

    batch_id: int = Field(description="批次号")
    rows: int = Field(description="数据行数 / data rows read")
    inserted: int = Field(description="新增 / new decisions stored")
    updated: int = Field(description="更新 / decisions changed (previous version kept)")
    unchanged: int = Field(description="未变化 / decisions delivered before with the same content")
    rejected: int = Field(description="拒收行数 / rows not stored, see rejections")
    status: str = Field(description="completed 或 failed")
    file_name: str | None = None
    format: str = Field(description="csv、xlsx 或 json")
    encoding: str | None = Field(description="检测到的编码 / detected text encoding")
    sha256: str | None = None
    ignored_columns: list[str] = Field(description="未识别而忽略的列 / columns not in the template")
    started_at: str | None = None
    duration_ms: int | None = None


class RejectionOut(BaseModel):
    """一条拒收原因 / why a row was not stored."""

    row: int = Field(description="行号（表头为第1行；JSON为记录下标，从0起）")
    field: str = Field(description="字段（JSON名）")
    code: str = Field(description="原因代码 / stable reason code")
    message: str
    message_zh: str
    message_en: str
    value: str | None = Field(description="原值（证件号码已脱敏）/ the value, ID numbers masked")


class RejectionList(BaseModel):
    """A batch's rejections in row order."""

    batch_id: int
    data: list[RejectionOut]
    count: int


class JsonDelivery(BaseModel):
    """以JSON报送 / decisions as JSON records with the CONTRACT.md field names."""

    records: list[Any] = Field(description="行政处罚记录 / penalty records", max_length=100_000)


class RevokeIn(BaseModel):
    """撤销理由 / why the decision is revoked."""

    reason: str = Field(min_length=1, max_length=2000, description="撤销理由，如：行政复议决定撤销")


class RevokeOut(BaseModel):
    """A revoked decision."""

    id: int
    decision_no: str
    status: str
    revoked_at: datetime | None
    revoked_reason: str | None


class PublicationOut(BaseModel):
    """公示期 / the publication window."""

    class_id: str = Field(description="公示类别：minor 轻微、general 一般、serious 严重")
    published_from: date = Field(description="公示起始日")
    published_until: date = Field(description="公示截止日（含）/ last day published")
    repair_possible_from: date | None = Field(description="可申请信用修复之日；不可提前移出的为空")


class PenaltyPublic(BaseModel):
    """公示的行政处罚决定 / a published penalty decision (personal ID numbers masked)."""

    id: int
    decision_no: str = Field(description="行政处罚决定书文号")
    name: str = Field(description="行政相对人名称")
    party_type: str = Field(description="organisation、individual_business 或 natural_person")
    uscc: str | None = Field(description="统一社会信用代码")
    reg_no: str | None = Field(description="工商注册号")
    org_code: str | None = Field(description="组织机构代码")
    id_type: str | None = Field(description="证件类型（自然人）")
    id_no: str | None = Field(description="证件号码（脱敏）/ masked")
    legal_rep: str | None = Field(description="法定代表人（证件号码不公开）")
    violation_type: str = Field(description="违法行为类型")
    facts: str = Field(description="违法事实")
    basis: str = Field(description="处罚依据")
    penalty_types: list[str] = Field(description="处罚类别")
    content: str = Field(description="处罚内容")
    fine_wan: str | None = Field(description="罚款金额（万元），精确小数 / exact decimal as text")
    confiscated_wan: str | None = Field(description="没收金额（万元）")
    license_affected: str | None = Field(description="暂扣或吊销证照名称及编号")
    decision_date: date = Field(description="处罚决定日期")
    valid_until: date | None = Field(description="处罚有效期")
    agency: str = Field(description="报送机关代码")
    agency_name: str = Field(description="处罚机关")
    agency_uscc: str = Field(description="处罚机关统一社会信用代码")
    source_name: str = Field(description="数据来源单位")
    remarks: str | None = Field(description="备注")
    publication: PublicationOut
    under_objection: bool = Field(default=False, description="异议处理中 / an objection to this record is open")

    @classmethod
    def from_row(cls, row: Any) -> PenaltyPublic:
        """From a decision row; free text passes through the resident-ID redaction."""
        from datetime import timedelta

        from registry.privacy import public_identifier, redact_text

        def text(value: str | None) -> str | None:
            return redact_text(value) if value else value

        return cls.model_construct(
            id=row["id"],
            decision_no=row["decision_no"],
            name=row["name"],
            party_type=row["party_type"],
            uscc=row["uscc"],
            reg_no=row["reg_no"],
            org_code=row["org_code"],
            id_type=row["id_type"],
            id_no=public_identifier(row["id_type"] or "other_id", row["id_no"]),
            legal_rep=row["legal_rep"],
            violation_type=row["violation_type"],
            facts=text(row["facts"]) or "",
            basis=text(row["basis"]) or "",
            penalty_types=row["penalty_types"].split(";"),
            content=text(row["content"]) or "",
            fine_wan=None if row["fine_wan"] is None else format(row["fine_wan"], "f"),
            confiscated_wan=None if row["confiscated_wan"] is None else format(row["confiscated_wan"], "f"),
            license_affected=text(row["license_affected"]),
            decision_date=row["decision_date"],
            valid_until=row["valid_until"],
            agency=row["agency_code"],
            agency_name=row["agency_name"],
            agency_uscc=row["agency_uscc"],
            source_name=row["source_name"],
            remarks=text(row["remarks"]),
            under_objection=bool(row.get("under_objection")),
            publication=PublicationOut.model_construct(
                class_id=row["pub_class"],
                published_from=row["pub_from"],
                published_until=row["pub_latest_end"] - timedelta(days=1),
                repair_possible_from=row["pub_earliest_end"],
            ),
        )


class PenaltyList(BaseModel):
    """A page of published decisions with the total."""

    data: list[PenaltyPublic]
    count: int


class EntityHit(BaseModel):
    """搜索结果 / one search result."""

    uscc: str | None = Field(description="统一社会信用代码")
    name: str = Field(description="现名称 / current name")
    kind: str
    region: RegionOut | None
    matched_name: str | None = Field(description="匹配到的曾用名 / the former name that matched")
    match: str = Field(description="code 代码精确匹配、name 名称完全匹配、partial 部分匹配")


class EntitySearch(BaseModel):
    """A page of search results with the total."""

    data: list[EntityHit]
    count: int = Field(description="命中总数；count_capped 时为下限 / total matches; a lower bound when count_capped")
    count_capped: bool = Field(
        default=False,
        description="命中超过 1000 条，未全部计数（显示为“1000+”）/ more than ``count`` matches: counting stopped at "
        "1,000 (or at the end of the requested page, when that lies further)",
    )


class ListingDecisionOut(BaseModel):
    """列入所依据的处罚决定 / a decision a listing rests on."""

    decision_id: int = Field(description="处罚决定记录号 / the decision's id in this registry")
    decision_no: str = Field(description="行政处罚决定书文号")
    agency: str = Field(description="报送机关代码")
    decision_date: date = Field(description="处罚决定日期")
    role: str = Field(description="trigger 触发列入；added 列入期间新增")
    removed_on: date | None = Field(default=None, description="因撤销而不再作为依据之日 / unlinked (revoked) on")


class ListingPublic(BaseModel):
    """严重失信主体名单条目 / one entry of the published blacklist."""

    id: int
    name: str = Field(description="主体名称")
    uscc: str | None = Field(description="统一社会信用代码")
    kind: str = Field(description="主体类别")
    rule: str = Field(description="列入规则代码 / rule id")
    rule_title: str = Field(description="列入规则 / rule")
    basis: str = Field(description="列入依据 / legal basis")
    listed_from: date = Field(description="列入日期")
    listed_until: date = Field(description="届满日期（含当日）/ last day listed")
    decisions: list[ListingDecisionOut] = Field(description="所依据的处罚决定 / the decisions behind it")


class BlacklistOut(BaseModel):
    """A page of the blacklist with the total."""

    data: list[ListingPublic]
    count: int


class ListingEventOut(BaseModel):
    """名单流程记录 / one step of a listing's life."""

    at: datetime
    on: date
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    detail: dict[str, Any] | None


class ListingOut(BaseModel):
    """A listing as staff see it: state, dates, the notice, decisions and history."""

    id: int
    entity_id: int
    name: str
    uscc: str | None
    rule: str
    rule_title: str
    basis: str
    status: str = Field(description="notified 已告知待决定、listed 已列入、dropped 不予列入、ended 已移出")
    proposed_on: date
    notice: str = Field(description="告知书 / the notice recorded at proposal")
    objection_until: date = Field(description="陈述申辩截止日（含）/ last day to object")
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    listed_from: date | None
    listed_until: date | None
    ended_on: date | None
    end_reason: str | None = Field(description="expired 届满、revoked 决定被撤销、repaired 信用修复")
    decisions: list[ListingDecisionOut]
    events: list[ListingEventOut] | None = None


class ListingList(BaseModel):
    """A page of listings with the total."""

    data: list[ListingOut]
    count: int


class ListingDecideIn(BaseModel):
    """An admin's decision on a proposal."""

    decision: Literal["list", "drop"] = Field(description="list 列入；drop 不予列入")
    reason: str = Field(min_length=1, max_length=2000, description="理由 / why")


class ObjectionIn(BaseModel):
    """陈述申辩 / an objection on the entity's behalf."""

    text: str = Field(min_length=1, max_length=10000, description="陈述申辩内容")


class ObjectionOut(BaseModel):
    """The recorded objection."""

    listing_id: int
    at: datetime
    actor: str
    text: str


class CheckIn(BaseModel):
    """核查请求 / one pre-approval check."""

    code: str = Field(min_length=1, max_length=64, description="任意标识码 / any identifier of the applicant")
    action: str = Field(
        description="审批事项：procurement, bidding, subsidy, licensing, inspection, honours, financing, bonds, "
        "officer, ip_services"
    )


class BatchCheckIn(BaseModel):
    """批量核查 / a batch of codes for one action (a bank's loan book)."""

    codes: list[str] = Field(max_length=100_000, description="至多 100,000 个代码 / up to 100,000 codes")
    action: str


class MeasureOut(BaseModel):
    """惩戒措施 / a measure from the catalogue."""

    code: str
    name: str
    action: str
    basis: str


class CheckOut(BaseModel):
    """核查结果 / the answer to a check (CONTRACT.md)."""

    check_id: int = Field(description="核查编号，用于反馈 / for feedback")
    code: str = Field(description="规范化代码（个人证件号码脱敏）")
    entity: dict[str, Any] | None = Field(description="主体 / name, uscc, kind")
    decision: Literal["clear", "restricted", "unknown_entity"]
    listings: list[dict[str, Any]] = Field(description="适用的失信名单记录（含规则、依据、处罚决定书文号）")
    measures: list[MeasureOut] = Field(description="该事项适用的惩戒措施 / measures for this action")


class FeedbackIn(BaseModel):
    """惩戒反馈 / what the checker did with a check."""

    outcome: Literal["rejected", "approved_with_conditions", "approved", "withdrawn"]
    note: str | None = Field(default=None, max_length=4000)


class RepairIn(BaseModel):
    """信用修复申请 / a repair application on the entity's behalf."""

    target: Literal["decision", "listing"]
    id: int = Field(description="处罚决定或名单记录的编号 / the decision's or listing's id")
    evidence: dict[str, Any] = Field(
        description="证明材料：fine_paid 已履行罚款、corrected 已整改、commitment_signed 已签署信用承诺书 (true)，"
        "documents 文件编号列表"
    )
    text: str | None = Field(default=None, max_length=10000)


class RepairDecideIn(BaseModel):
    """An admin's decision on a repair application."""

    decision: Literal["approve", "refuse"]
    reason: str = Field(min_length=1, max_length=4000)


class RecordObjectionIn(BaseModel):
    """异议申请 / an objection to a decision's record."""

    decision_id: int
    kind: str = Field(description="wrong_entity, wrong_amount, revoked_still_shown, wrong_content, other")
    text: str = Field(min_length=1, max_length=10000)


class ObjectionResolveIn(BaseModel):
    """The deciding agency's (or an admin's) answer to an objection."""

    outcome: Literal["corrected", "confirmed", "withdrawn"]
    note: str | None = Field(default=None, max_length=4000)

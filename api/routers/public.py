"""Public routes: liveness, identifier validation, entity profiles. No key needed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import SessionDep
from api.schemas import EntityPublic, IdentifierCheckOut, IdentifierOut
from registry import entities, identifiers
from registry.privacy import mask_id_number

router = APIRouter()


@router.get("/healthz", tags=["system"], summary="存活检查 / liveness")
def healthz() -> dict[str, str]:
    """Answers while the process is up."""
    return {"status": "ok"}


@router.get(
    "/api/v1/identifiers/{code}",
    response_model=IdentifierCheckOut,
    tags=["public"],
    summary="校验标识码 / validate an identifier",
)
def check_identifier(
    code: Annotated[str, Path(description="任意标识码：统一社会信用代码、工商注册号、组织机构代码、身份证号")],
    scheme: Annotated[
        str | None,
        Query(
            description="指定代码类型（不填则自动识别）/ force a scheme",
            pattern="^(uscc|reg_no|org_code|resident_id|tax_no)$",
        ),
    ] = None,
) -> dict[str, object]:
    """A validation service: an invalid code is a 200 with ``valid: false`` and a reason."""
    return identifiers.check(code, scheme).public_dict()


@router.get(
    "/api/v1/entities/{code}",
    response_model=EntityPublic,
    tags=["public"],
    summary="按任意标识码查询主体 / entity profile by any identifier",
    responses={404: {"description": "valid code, unknown entity"}, 422: {"description": "malformed code"}},
)
def entity_profile(code: str, session: SessionDep) -> EntityPublic:
    """Profile of the entity any of its identifiers names."""
    entity = entities.lookup(session=session, code=code)
    assert entity.id is not None
    idents = entities.identifiers_of(session=session, entity_id=entity.id)
    names = entities.names_of(session=session, entity_id=entity.id)
    region = identifiers.region_info(entity.region_code) if entity.region_code else None
    return EntityPublic(
        uscc=entity.uscc,
        name=entity.name,
        kind=entity.kind,
        identifiers=[
            IdentifierOut(
                scheme=i.scheme,
                value=(mask_id_number(i.value) or "") if i.scheme == "resident_id" else i.value,
            )
            for i in idents
        ],
        former_names=[n.name for n in names if n.name != entity.name],
        region=region.as_dict() if region else None,  # type: ignore[arg-type]
        penalties=[],
        listing=None,
    )

"""The ``xinyong`` command line (CONTRACT.md). Built with Typer.

Exit 0 on success. A user error (bad input, unknown agency, no schema, unreachable database)
prints one line on stderr saying what is wrong and how to mend it and exits 1, never a
traceback. Heavy imports happen inside the commands so that ``xinyong id check`` stays quick.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from sqlmodel import Session
from typer.exceptions import TyperException

from registry.config import get_settings, reload_settings
from registry.errors import DomainError

app = typer.Typer(
    name="xinyong",
    help="信用 xinyong: credit blacklist and joint-sanctions registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
id_app = typer.Typer(help="Validate identifiers (USCC, 工商注册号, 组织机构代码, 身份证号).", no_args_is_help=True)
agency_app = typer.Typer(help="Manage agencies.", no_args_is_help=True)
key_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(id_app, name="id")
app.add_typer(agency_app, name="agency")
app.add_typer(key_app, name="key")
rules_app = typer.Typer(help="The blacklist rules (DOMAIN.md §5).", no_args_is_help=True)
listing_app = typer.Typer(
    help="Blacklist proposals and listings: review and decide (admin side).", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
app.add_typer(listing_app, name="listing")
repair_app = typer.Typer(help="Credit repair applications (admin side).", no_args_is_help=True)
objection_app = typer.Typer(help="Objections to records (admin side).", no_args_is_help=True)
app.add_typer(repair_app, name="repair")
app.add_typer(objection_app, name="objection")
bench_app = typer.Typer(help="Benchmark data and the benchmark runner.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


class UserError(Exception):
    """A mistake the user can mend; printed as one line."""


def _actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"cli:{user}"


def _engine() -> Any:
    import registry.models  # noqa: F401  (every table mapped before the first query)
    from registry.db import get_engine

    settings = get_settings()
    return get_engine(settings.database_url, settings.sql_echo)


@contextmanager
def _session(*, need_schema: bool = True) -> Iterator[Session]:
    from registry.db import ensure_schema, session_scope

    engine = _engine()
    if need_schema:
        ensure_schema(engine)
    with session_scope(engine) as session:
        yield session


@app.callback()
def _root(
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Overrides XINYONG_DATABASE_URL for this command.")
    ] = None,
) -> None:
    if database_url:
        os.environ["XINYONG_DATABASE_URL"] = database_url
        reload_settings()


@app.command()
def init() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from registry.audit import record_event
    from registry.db import session_scope, upgrade

    engine = _engine()
    revision = upgrade(engine)
    with session_scope(engine) as session:
        record_event(session=session, principal=_actor(), action="schema.upgrade", target=revision)
    typer.echo(f"schema ready at revision {revision} ({engine.url.render_as_string(hide_password=True)})")


@id_app.command("check")
def id_check(
    codes: Annotated[list[str], typer.Argument(help="One or more codes of any scheme.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line (CONTRACT.md fields).")] = False,
    scheme: Annotated[
        str | None,
        typer.Option(
            help="Validate as this scheme instead of detecting it: uscc, reg_no, org_code, resident_id, tax_no."
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any code is invalid.")] = False,
) -> None:
    """Validate identifiers; resident ID numbers are shown masked."""
    from registry.identifiers import SCHEMES, check

    if scheme is not None and scheme not in SCHEMES:
        raise UserError(f"--scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    invalid = 0
    for raw in codes:
        out = check(raw, scheme).public_dict()
        invalid += not out["valid"]
        if as_json:
            typer.echo(json.dumps(out, ensure_ascii=False))
            continue
        if out["valid"]:
            extra = []
            if out["region"]:
                region = out["region"]
                province, place = region["province"], region["name"]
                extra.append(place if not province or province == place else f"{province}{place}")
            if out["authority"]:
                extra.append(out["authority"]["name"])
            if out["entity_type"]:
                extra.append(out["entity_type"]["name"])
            typer.echo(f"{out['input']}\tvalid\t{out['scheme']}\t{out['normalized']}\t{' / '.join(extra)}")
        else:
            typer.echo(
                f"{out['input']}\tINVALID\t{out['scheme'] or '-'}\t{out['reason']}\t"
                f"{out['message_zh']} ({out['message_en']})"
            )
    if strict and invalid:
        raise UserError(f"{invalid} of {len(codes)} codes are invalid")


@agency_app.command("add")
def agency_add(
    code: Annotated[str, typer.Argument(help="Short code of your choosing, e.g. SAMR-SH.")],
    name: Annotated[str, typer.Option("--name", help="The agency's name.")],
    uscc: Annotated[str, typer.Option("--uscc", help="The agency's USCC.")],
) -> None:
    """Register an agency (its USCC is validated)."""
    from registry.agencies import add_agency
    from registry.audit import record_event

    with _session() as session:
        agency = add_agency(session=session, code=code, name=name, uscc=uscc)
        record_event(session=session, principal=_actor(), action="agency.add", target=agency.code)
    typer.echo(f"agency {agency.code}: {agency.name} ({agency.uscc})")


@agency_app.command("list")
def agency_list() -> None:
    """List agencies."""
    from registry.agencies import list_agencies

    with _session() as session:
        for a in list_agencies(session=session):
            typer.echo(f"{a.code}\t{a.uscc}\t{a.name}")


@key_app.command("create")
def key_create(
    role: Annotated[str, typer.Option("--role", help="agency, bank or admin.")],
    agency: Annotated[str | None, typer.Option("--agency", help="Agency code (agency keys only).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label, e.g. who holds the key.")] = None,
) -> None:
    """Create an API key and print it alone on stdout; it is not shown again."""
    from registry.access import create_key
    from registry.audit import record_event

    with _session() as session:
        key, raw = create_key(session=session, role=role, agency_code=agency, name=name)
        record_event(
            session=session,
            principal=_actor(),
            action="key.create",
            target=key.prefix,
            detail={"role": role, "agency": agency},
        )
    typer.echo(raw)
    if sys.stderr.isatty():
        typer.echo(f"key {key.prefix}… ({role}) created; store it now, it cannot be shown again", err=True)


@key_app.command("list")
def key_list() -> None:
    """List keys by prefix (never the keys themselves)."""
    from registry.access import list_keys

    with _session() as session:
        for key, agency_code in list_keys(session=session):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(f"{key.prefix}\t{key.role}\t{agency_code or '-'}\t{state}\t{key.name or ''}")


@key_app.command("revoke")
def key_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix as `key list` shows it (or the key).")],
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from registry.access import revoke_key
    from registry.audit import record_event

    with _session() as session:
        key = revoke_key(session=session, prefix=prefix)
        record_event(session=session, principal=_actor(), action="key.revoke", target=key.prefix)
    typer.echo(f"key {key.prefix} revoked")


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="The delivery: .csv, .xlsx or .json in the 双公示 template.")],
    agency: Annotated[str, typer.Option("--agency", help="Code of the delivering agency.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the batch summary as JSON.")] = False,
    reject_report: Annotated[
        Path | None, typer.Option("--reject-report", help="Write rejected rows to this .csv or .xlsx file.")
    ] = None,
) -> None:
    """Import penalty decisions; every row is stored or reported with its reason."""
    from importers.pipeline import import_file
    from importers.report import write_report
    from registry.batches import rejections_of
    from registry.db import ensure_schema

    if not file.is_file():
        raise UserError(f"no such file: {file}")
    engine = _engine()
    ensure_schema(engine)
    with _progress(f"importing {file.name}") as advance:
        result = import_file(engine=engine, path=file, agency_code=agency, principal=_actor(), progress=advance)
    with Session(engine) as session:
        rejections = rejections_of(session=session, batch_id=result["batch_id"])
    if reject_report is not None:
        write_report(rejections, reject_report)
    if as_json:
        keys = ("batch_id", "rows", "inserted", "updated", "unchanged", "rejected")
        typer.echo(json.dumps({k: result[k] for k in keys}, ensure_ascii=False))
        return
    typer.echo(
        f"batch {result['batch_id']}: {result['rows']} rows: {result['inserted']} inserted, "
        f"{result['updated']} updated, {result['unchanged']} unchanged, {result['rejected']} rejected "
        f"({result['format']}, {result['encoding'] or '-'})"
    )
    for r in rejections[:10]:
        typer.echo(f"  row {r.row}  {r.field}  {r.code}: {r.message_zh}")
    if len(rejections) > 10:
        more = f"see {reject_report}" if reject_report else "use --reject-report PATH for all of them"
        typer.echo(f"  … {len(rejections) - 10} more ({more})")
    if result["ignored_columns"]:
        typer.echo(f"  ignored columns: {', '.join(result['ignored_columns'])}")


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A progress counter on a terminal; nothing when stderr is not one (CI, pipes)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda n: progress.advance(task, n)


@app.command()
def revoke(
    agency: Annotated[str, typer.Option("--agency", help="Code of the agency that delivered the decision.")],
    decision_no: Annotated[str, typer.Option("--decision-no", help="行政处罚决定书文号.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. 行政复议撤销, 法院判决撤销).")],
    party: Annotated[
        str | None, typer.Option("--party", help="Any identifier of one party, when the decision names several.")
    ] = None,
) -> None:
    """Revoke (撤销) a decision: it leaves every public output at once and stays in history."""
    from registry.agencies import get_agency
    from registry.audit import record_event
    from registry.entities import lookup
    from registry.penalties import find_by_number, revoke_decision

    with _session() as session:
        owner = get_agency(session=session, code=agency)
        assert owner.id is not None
        decisions = find_by_number(session=session, agency_id=owner.id, decision_no=decision_no)
        if party:
            entity = lookup(session=session, code=party)
            decisions = [d for d in decisions if d.entity_id == entity.id]
        decisions = [d for d in decisions if d.status != "revoked"]
        if not decisions:
            raise UserError(
                f"agency {agency} has no active decision {decision_no!r}" + (f" for {party}" if party else "")
            )
        for decision in decisions:
            assert decision.id is not None
            revoke_decision(session=session, decision_id=decision.id, agency_id=owner.id, reason=reason, actor=_actor())
            record_event(
                session=session,
                principal=_actor(),
                action="penalty.revoke",
                target=decision.decision_no,
                detail={"decision_id": decision.id, "reason": reason},
            )
    typer.echo(f"revoked {len(decisions)} decision(s) {decision_no}")


@rules_app.command("run")
def rules_run(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Evaluate every rule over all decisions: record expiries, end listings whose decisions
    were revoked, propose new listings (with their notice). Running it twice proposes nothing
    new. ``listed`` is the number of listings in force after the run."""
    from registry.audit import record_event
    from registry.listings import run_rules

    with _session() as session:
        result = run_rules(session=session, actor=_actor()).as_dict()
        record_event(session=session, principal=_actor(), action="rules.run", detail=result)
    if as_json:
        typer.echo(json.dumps({k: result[k] for k in ("proposed", "listed", "expired", "revoked")}))
        return
    typer.echo(
        f"proposed {result['proposed']}, in force {result['listed']}, expired {result['expired']}, "
        f"revoked {result['revoked']}, decisions added to open listings {result['added']}"
    )


@listing_app.command("list")
def listing_list(
    status: Annotated[
        str | None, typer.Option("--status", help="proposed (awaiting a decision), listed, dropped or ended.")
    ] = None,
) -> None:
    """Listings by status, one per line: id, status, rule, entity, dates."""
    from registry import clock
    from registry.entities import Entity
    from registry.listings import effective_status, list_listings

    with _session() as session:
        items, count = list_listings(session=session, status=status, limit=10_000)
        for item in items:
            entity = session.get(Entity, item.entity_id)
            name = entity.name if entity else "?"
            dates = (
                f"listed {item.listed_from}..{item.listed_until}"
                if item.listed_from
                else f"objections until {item.objection_until}"
            )
            typer.echo(f"{item.id}\t{effective_status(item, clock.today())}\t{item.rule_id}\t{name}\t{dates}")
    typer.echo(f"{count} listing(s)", err=True)


@listing_app.command("decide")
def listing_decide(
    listing_id: Annotated[int, typer.Argument(help="The listing id (xinyong listing list).")],
    decision: Annotated[str, typer.Option("--decision", help="list or drop.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the listing's history.")],
) -> None:
    """Decide a proposal after its objection window: list it on the blacklist, or drop it."""
    from registry.audit import record_event
    from registry.listings import decide

    with _session() as session:
        item = decide(session=session, listing_id=listing_id, decision=decision, reason=reason, actor=_actor())
        record_event(
            session=session,
            principal=_actor(),
            action=f"listing.{decision}",
            target=str(listing_id),
            detail={"reason": reason},
        )
        status = item.status
        dates = f" from {item.listed_from} until {item.listed_until}" if item.listed_from else ""
    typer.echo(f"listing {listing_id}: {status}{dates}")


def _admin() -> Any:
    """The CLI acts as an admin; the audit log names it admin/key:cli-<login name>."""
    from registry.access import Principal

    return Principal(key_id=0, prefix=f"cli-{_actor().split(':', 1)[1]}", role="admin", name="cli")


@repair_app.command("list")
def repair_list(
    status: Annotated[str | None, typer.Option("--status", help="pending, approved or refused.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only pending applications past their deadline.")] = False,
) -> None:
    """Repair applications, one per line: id, status, target, filed, due."""
    from registry.repair import list_applications

    with _session() as session:
        items = list_applications(session=session, status=status, overdue=overdue)
        for a in items:
            target = f"decision:{a.decision_id}" if a.decision_id else f"listing:{a.listing_id}"
            typer.echo(f"{a.id}\t{a.status}\t{target}\tfiled {a.filed_on}\tdue {a.due_on}")
    typer.echo(f"{len(items)} application(s)", err=True)


@repair_app.command("decide")
def repair_decide(
    application_id: Annotated[int, typer.Argument(help="The application id (xinyong repair list).")],
    decision: Annotated[str, typer.Option("--decision", help="approve or refuse.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept with the application.")],
) -> None:
    """Approve (ends publication or the listing at once) or refuse an application."""
    from registry.repair import decide

    with _session() as session:
        item = decide(
            session=session, principal=_admin(), application_id=application_id, decision=decision, reason=reason
        )
        status = item.status
    typer.echo(f"application {application_id}: {status}")


@objection_app.command("list")
def objection_list(
    status: Annotated[str | None, typer.Option("--status", help="open, corrected, confirmed, withdrawn.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open objections past their deadline.")] = False,
) -> None:
    """Objections, one per line: id, status, decision id, kind, filed, due."""
    from registry.repair import list_objections

    with _session() as session:
        items = list_objections(session=session, status=status, overdue=overdue)
        for o in items:
            typer.echo(f"{o.id}\t{o.status}\tdecision:{o.decision_id}\t{o.kind}\tfiled {o.filed_on}\tdue {o.due_on}")
    typer.echo(f"{len(items)} objection(s)", err=True)


@objection_app.command("resolve")
def objection_resolve(
    objection_id: Annotated[int, typer.Argument(help="The objection id (xinyong objection list).")],
    outcome: Annotated[str, typer.Option("--outcome", help="corrected, confirmed or withdrawn.")],
    note: Annotated[str | None, typer.Option("--note", help="The answer to the objector.")] = None,
) -> None:
    """Resolve an objection; ``corrected`` needs the corrected record delivered first."""
    from registry.repair import resolve

    with _session() as session:
        item = resolve(session=session, principal=_admin(), objection_id=objection_id, outcome=outcome, note=note)
        status = item.status
    typer.echo(f"objection {objection_id}: {status}")


@bench_app.command("generate")
def bench_generate(
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .xlsx).")],
    rows: Annotated[int, typer.Option("--rows", min=1, help="How many decision rows.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same file.")] = 7,
) -> None:
    """Write a deterministic 双公示 delivery of realistic entities and decisions."""
    from benchmarks.generate import write_csv, write_xlsx

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UserError(f"--out {out}: the file must end in .csv or .xlsx")
    (write_xlsx if suffix == ".xlsx" else write_csv)(out, rows, seed=seed)
    typer.echo(f"wrote {rows:,} rows to {out}")


@bench_app.command("run")
def bench_run(
    scale: Annotated[
        str, typer.Option("--scale", help="small (seconds, CI smoke) or full (1,000,000 rows).")
    ] = "small",
    out: Annotated[Path, typer.Option("--out", help="Markdown file the results go into.")] = Path("BENCHMARKS.md"),
    pg_url: Annotated[
        str | None, typer.Option("--pg-url", help="PostgreSQL to measure as well (default: the local test server).")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    workdir: Annotated[Path, typer.Option("--workdir", help="Where data files and SQLite databases go.")] = Path(
        "bench-out"
    ),
) -> None:
    """Measure import throughput, then lookup and search latency, each beside its floor, on SQLite (and
    PostgreSQL), and write the tables."""
    from benchmarks.run import SCALES, run

    if scale not in SCALES:
        raise UserError(f"--scale {scale!r} is not one of {', '.join(SCALES)}")
    run(scale, out, pg_url or None, workdir, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"results written to {out}")


def _load_demo() -> dict[str, str]:
    from importers.demo import DEMO_AGENCIES, demo_penalties, load_demo
    from importers.pipeline import import_records
    from registry.db import session_scope, upgrade

    engine = _engine()
    upgrade(engine)
    with session_scope(engine) as session:
        keys = load_demo(session=session)
    import_records(engine=engine, payload=demo_penalties(), agency_code=DEMO_AGENCIES[0][0], principal="cli:demo")
    return keys


@app.command()
def demo() -> None:
    """Load the demo data set (agencies, entities, penalties, one key per role; safe to run again)."""
    keys = _load_demo()
    typer.echo("demo data loaded; keys for trying the API (shown once):")
    for role, raw in keys.items():
        typer.echo(f"  {role}\t{raw}")


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging config with the resident-ID redacting filter on every handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "registry.privacy.RedactingFilter"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    return config


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    with_demo: Annotated[bool, typer.Option("--demo", help="Create the schema and load demo data first.")] = False,
) -> None:
    """Serve the API (and, as later issues add them, the portal pages) with uvicorn."""
    import uvicorn

    from api.app import create_app
    from registry.db import ensure_schema

    if with_demo:
        keys = _load_demo()
        typer.echo("demo data loaded; keys for trying the API:")
        for role, raw in keys.items():
            typer.echo(f"  {role}\t{raw}")
    ensure_schema(_engine())
    typer.echo(f"serving on http://{host}:{port}  (API docs at /docs)")
    uvicorn.run(create_app(), host=host, port=port, log_config=uvicorn_log_config())


def _database_error(exc: Exception) -> str:
    first = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    url = get_settings().database_url
    from registry.db import normalize_url

    try:
        from sqlalchemy.engine import make_url

        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:
        shown = "the configured database"
    return (
        f"database error at {shown}: {first} "
        "(check XINYONG_DATABASE_URL, and run `xinyong init` if the schema is missing)"
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns user errors into one line and exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        result = app(args=argv, standalone_mode=False, prog_name="xinyong")
        code = result if isinstance(result, int) else 0
    except (DomainError, UserError) as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 1
    except (typer.Exit, click.exceptions.Exit) as exc:
        code = exc.exit_code
    except (typer.Abort, click.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        code = 130
    except (TyperException, click.ClickException) as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            code = 0  # Typer has printed the help already
        else:
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {exc.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
            code = 1
    except SQLAlchemyError as exc:
        typer.echo(f"error: {_database_error(exc)}", err=True)
        code = 1
    except OSError as exc:
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()

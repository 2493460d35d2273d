"""`etl`: the data engineer's command line. Every command calls the same functions the DAG tasks call.

    etl validate                       every mapping, suite and override file; exit 1 with file:line errors
    etl run crm [contacts]             sync in-process (no Airflow), progress per batch on stderr
    etl runs [--pipeline crm]          recent rows of etl_runs
    etl quarantine list|replay         refused rows; re-run them through the (fixed) mapping
    etl state show|reset               watermarks: show, forget (full re-read) or move back (backfill)
    etl freshness                      entities whose last successful load is older than their `freshness`
    etl new <system> <entity>          scaffold a mapping and a starter suite
    etl push list|dry-run|run <sync>   outbound syncs: what a run would send, or send it
    etl plugins                        installed plug-ins (source kinds, transforms, checks, targets)
    etl fields [system] [--backfill]   CRM custom fields seen in `extras` that no mapping uses yet

Exit codes: 0 success, 1 the command ran and found a problem (invalid files, a failed run, stale
data), 2 wrong usage. Results go to stdout, errors and progress to stderr. Heavy modules are imported
inside the commands, so `etl --help` answers at once.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
quarantine_app = typer.Typer(help="Rows refused by the checks: list them, replay them after a fix.",
                             no_args_is_help=True)
state_app = typer.Typer(help="Watermarks: where each entity's next incremental read starts.", no_args_is_help=True)
push_app = typer.Typer(help="Outbound syncs (warehouse -> ERP/OA/HR): list, dry run, run.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(state_app, name="state")
app.add_typer(push_app, name="push")

Warehouse = Annotated[str | None, typer.Option("--warehouse", envvar="ETL_WAREHOUSE_URL",
                                               help="SQLAlchemy URL of the warehouse (default ETL_WAREHOUSE_URL)")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err(message)
    return typer.Exit(code)


def _pipeline(system: str) -> str:
    return system if system.endswith("_sync") else f"{system}_sync"


def _table(header: list[str], rows: list[list], max_width: int = 60) -> None:
    text = [[("" if v is None else str(v))[:max_width] for v in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(header)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in text:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


class _StderrHandler(logging.StreamHandler):
    """Progress and step lines to whatever sys.stderr is at the time (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _logging(verbose: bool) -> None:
    logger = logging.getLogger("etl")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)


@app.command()
def validate(no_suites: Annotated[bool, typer.Option("--no-suites", help="skip the expectation suites")] = False):
    """Check every mapping YAML, every suite it names and the identity overrides."""
    from etl.ops.checks import validate_project

    checked, problems = validate_project(suites=not no_suites)
    for problem in problems:
        _err(problem)
    if problems:
        raise _fail(f"{len(problems)} problem(s) found in the configuration")
    typer.echo(f"ok: {checked} entities, their suites and the identity overrides are valid")


@app.command()
def run(system: str, entity: Annotated[list[str] | None, typer.Argument(help="entities (default: all)")] = None,
        warehouse: Warehouse = None,
        run_id: Annotated[str | None, typer.Option(help="default manual__cli__<UTC time>")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False):
    """Sync a system (or some of its entities) in-process, in dependency order, as the DAG would."""
    from etl.config.loader import MappingError, load_system, mappings_dir

    _logging(verbose)
    try:
        cfg = load_system(mappings_dir() / system)
    except (MappingError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    unknown = sorted(set(entity or []) - set(cfg.entities))
    if unknown:
        raise _fail(f"{system}: no entity {unknown[0]!r}; known: {', '.join(cfg.entities)}", 2)
    from etl.load.audit import now_utc
    from etl.steps import RunContext, run_entity

    run_id = run_id or f"manual__cli__{now_utc().strftime('%Y%m%dT%H%M%S')}"
    ctx = RunContext(run_id=run_id, warehouse_url=warehouse)
    failed = []
    for name, ent in cfg.entities.items():
        if entity and name not in entity:
            continue
        try:
            result = run_entity(ent, ctx)
        except Exception as exc:  # the audit row says failed; keep going with independent entities
            _err(f"{system}.{name}: FAILED: {type(exc).__name__}: {exc}")
            failed.append(name)
            continue
        typer.echo(f"{system}.{name}: " + ", ".join(f"{k} {result[k]}" for k in
                   ("extracted", "filtered", "quarantined", "inserted", "updated", "unchanged"))
                   + f", watermark {result.watermark_to}")
    typer.echo(f"run {run_id}: {'failed: ' + ', '.join(failed) if failed else 'ok'}")
    if failed:
        raise typer.Exit(1)


@app.command()
def runs(warehouse: Warehouse = None, pipeline: Annotated[str | None, typer.Option("--pipeline", "-p")] = None,
         status: Annotated[str | None, typer.Option(help="running, success or failed")] = None,
         limit: Annotated[int, typer.Option("--limit", "-n")] = 20):
    """Recent rows of etl_runs, newest first."""
    from etl.ops.runs import one_line, recent_runs

    rows = recent_runs(warehouse, limit, pipeline, status)
    if not rows:
        typer.echo("no runs recorded yet")
        return
    _table(["started", "run_id", "pipeline", "entity", "status", "extr", "filt", "quar", "ins", "upd", "same",
            "watermark", "error"],
           [[str(r.started_at)[:19], r.run_id, r.pipeline, r.entity, r.status, *r.counts().values(),
             r.watermark_to, one_line(r.error, 80)] for r in rows], max_width=80)


@quarantine_app.command("list")
def quarantine_list(system: Annotated[str | None, typer.Argument()] = None,
                    entity: Annotated[str | None, typer.Argument()] = None, warehouse: Warehouse = None,
                    all_rows: Annotated[bool, typer.Option("--all", help="include replayed rows")] = False,
                    limit: Annotated[int, typer.Option("--limit", "-n")] = 50):
    """Quarantined rows (key, rule, reason); the stored record is not printed (it may hold personal data)."""
    from etl.quality.replay import list_quarantine

    rows = list_quarantine(warehouse, _pipeline(system) if system else None, entity, not all_rows, limit)
    if not rows:
        typer.echo("quarantine is empty" if not system else f"no quarantined rows for {system} {entity or ''}")
        return
    _table(["quarantined_at", "run_id", "pipeline", "entity", "primary_key", "rule", "reason", "replayed"],
           [[str(r[0])[:19], *r[1:]] for r in rows], max_width=70)


@quarantine_app.command("replay")
def quarantine_replay(system: str, entity: str, warehouse: Warehouse = None,
                      verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False):
    """Run an entity's quarantined rows through the current mapping, checks and merge again."""
    from etl.config.loader import MappingError
    from etl.orchestration.callables import entity_config
    from etl.quality.replay import replay

    _logging(verbose)
    try:
        ent = entity_config(system, entity)
    except (MappingError, FileNotFoundError, KeyError) as exc:
        raise _fail(f"{system}.{entity}: {exc}") from None
    result = replay(ent, warehouse)
    typer.echo(f"replay {result['run_id']}: {result['extracted']} rows replayed: released {result['released']} "
               f"(inserted {result['inserted']}, updated {result['updated']}, unchanged {result['unchanged']}), "
               f"filtered {result['filtered']}, still quarantined {result['quarantined']}")


@state_app.command("show")
def state_show(system: Annotated[str | None, typer.Argument()] = None, warehouse: Warehouse = None):
    """Every entity's watermark."""
    from etl.ops.state_admin import show

    rows = show(warehouse, _pipeline(system) if system else None)
    if not rows:
        typer.echo("no watermarks stored yet")
        return
    _table(["pipeline", "entity", "watermark", "set by run", "updated_at"], [list(r) for r in rows])


@state_app.command("reset")
def state_reset(system: str, entity: str, warehouse: Warehouse = None,
                to: Annotated[str | None, typer.Option(help="backfill from this ISO moment (default: forget)")] = None,
                yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False):
    """Forget an entity's watermark (the next run reads everything) or move it back (--to) for a backfill."""
    from etl.config.loader import MappingError
    from etl.ops.state_admin import parse_to, reset
    from etl.orchestration.callables import entity_config

    try:
        entity_config(system, entity)
        target = parse_to(to) if to else None
    except (MappingError, ValueError, FileNotFoundError, KeyError) as exc:
        raise _fail(f"{system}.{entity}: {exc}", 2) from None
    what = f"move the watermark of {system}.{entity} to {target}" if target else \
        f"forget the watermark of {system}.{entity} (the next run reads everything again)"
    if not yes and not typer.confirm(f"{what}?", err=True):
        raise _fail("nothing changed")
    before, after = reset(_pipeline(system), entity, target, warehouse)
    typer.echo(f"{system}.{entity}: watermark {before} -> {after or 'none (full read next run)'}")


@app.command()
def freshness(warehouse: Warehouse = None):
    """Entities whose last successful load is older than the `freshness` their mapping declares."""
    from etl.ops.freshness import check

    report = check(warehouse)
    for line in report.lines():
        typer.echo(line)
    if report.stale:
        raise typer.Exit(1)


@app.command()
def new(system: str, entity: str,
        kind: Annotated[str | None, typer.Option(help="rest, sql or files (a new system only)")] = None):
    """Scaffold mappings/<system>/<entity>.yml and expectations/stg_<system>__<entity>.json."""
    from etl.ops.scaffold import ScaffoldError, scaffold

    try:
        paths = scaffold(system, entity, kind)
    except ScaffoldError as exc:
        raise _fail(str(exc)) from None
    for path in paths:
        typer.echo(f"created {path}")
    typer.echo("next: edit the TODOs, then `etl validate` and `etl run " + f"{system} {entity}`")


def _sync(name: str):
    from etl.config.loader import MappingError
    from etl.config.outbound import load_syncs

    try:
        syncs = load_syncs()
    except MappingError as exc:
        raise _fail(str(exc)) from None
    if name not in syncs:
        raise _fail(f"no outbound sync {name!r}; known: {', '.join(sorted(syncs)) or 'none'}", 2)
    return syncs[name]


@push_app.command("list")
def push_list():
    """Every outbound sync: its target system, mode and source table."""
    from etl.config.loader import MappingError
    from etl.config.outbound import load_syncs

    try:
        syncs = load_syncs()
    except MappingError as exc:
        raise _fail(str(exc)) from None
    if not syncs:
        typer.echo("no outbound syncs (mappings/<system>/outbound/*.yml)")
        return
    _table(["sync", "system", "mode", "target"],
           [[s.sync, s.system, s.mode, s.target.kind] for s in syncs.values()])


def _push_result(result) -> None:
    typer.echo(f"{result.sync} {result.status} ({result.run_id}): "
               + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    for action, samples in (result.samples or {}).items():
        for sample in samples:
            typer.echo(f"  {action}: {sample}")


@push_app.command("dry-run")
def push_dry_run(sync: str, warehouse: Warehouse = None,
                 samples: Annotated[int, typer.Option(help="payloads shown per action")] = 3):
    """What a push would create, update, delete and reject, with a few payloads; the target is not called."""
    from etl.load.audit import now_utc
    from etl.push.run import dry_run

    run_id = f"dry_run__cli__{now_utc().strftime('%Y%m%dT%H%M%S')}"
    try:
        result = dry_run(_sync(sync), run_id, warehouse, samples)
    except typer.Exit:
        raise
    except Exception as exc:
        raise _fail(f"{sync}: {type(exc).__name__}: {exc}") from None
    _push_result(result)


@push_app.command("run")
def push_run(sync: str, warehouse: Warehouse = None):
    """Push now, in-process (as the push DAG's task would)."""
    from etl.load.audit import now_utc
    from etl.push.run import push

    run_id = f"manual__cli__{now_utc().strftime('%Y%m%dT%H%M%S')}"
    try:
        result = push(_sync(sync), run_id, warehouse)
    except typer.Exit:
        raise
    except Exception as exc:
        raise _fail(f"{sync}: {type(exc).__name__}: {exc}") from None
    _push_result(result)
    if result.status != "success":
        raise typer.Exit(1)


@app.command()
def plugins():
    """Installed plug-ins: source kinds, transforms, checks and targets (docs/plugins.md)."""
    from etl.plugins import list_plugins

    found = list_plugins()
    if not found:
        typer.echo("no plug-ins installed (see docs/plugins.md)")
        return
    _table(["kind", "name", "package", "provides"],
           [[p.kind, p.name, f"{p.package} {p.version}", p.doc or p.target] for p in found], max_width=70)


@app.command()
def fields(system: Annotated[str | None, typer.Argument()] = None, warehouse: Warehouse = None,
           backfill: Annotated[bool, typer.Option("--backfill", help="fill newly mapped columns from extras")] = False):
    """Fields seen in `extras` that no mapping uses yet, with counts and PII-safe samples."""
    from etl.load.extras import backfill_all, unmapped_fields

    if backfill:
        for (sys_name, entity), n in backfill_all(warehouse, system).items():
            typer.echo(f"{sys_name}.{entity}: {n} rows filled from extras")
        return
    found = unmapped_fields(warehouse, system)
    if not found:
        typer.echo("every field in extras is mapped")
        return
    _table(["system", "entity", "field", "rows", "share", "distinct", "samples"],
           [[f.system, f.entity, f.field, f.rows, f"{f.share:.0%}", f.distinct, ", ".join(f.samples)]
            for f in found], max_width=50)


def main() -> None:  # `python -m etl.cli`
    app()


if __name__ == "__main__":
    main()

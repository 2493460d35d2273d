"""`etl validate`: every mapping file, every suite it names and the identity overrides, checked the way
a run would load them, with every problem reported at once (file:line: field: what is wrong)."""

from __future__ import annotations

from pathlib import Path

from etl.config.loader import MappingError, load_system, mappings_dir, system_folders


def _suite_problems(cfg) -> list[str]:
    from etl.quality.suites import SuiteError, load_suite, referenced_columns, suite_path

    problems = []
    for entity in cfg.entities.values():
        path = suite_path(entity.quality.suite or entity.target)
        if not path.exists():
            problems.append(f"{cfg.folder / (entity.entity + '.yml')}:1: quality.suite: no suite file {path} "
                            f"(create it; `etl new` writes a starter suite)")
            continue
        try:
            suite = load_suite(path)
        except SuiteError as exc:
            problems.append(str(exc))
            continue
        known = {*entity.columns, "extras", "_loaded_at", "_run_id", "_row_hash"}
        for i, expectation in enumerate(suite["expectations"]):
            for column in referenced_columns(expectation) or []:
                if column not in known:
                    problems.append(f"{path}: expectations[{i}] {expectation['type']}: column {column!r} is not "
                                    f"a column of {entity.target} (declared in {entity.entity}.yml)")
    return problems


def _outbound_problems(root: Path) -> list[str]:
    """Every outbound sync file (`mappings/<system>/outbound/*.yml`), each checked on its own."""
    from etl.config.outbound import load_sync, outbound_files

    problems = []
    for path in outbound_files(root):
        try:
            load_sync(path)
        except MappingError as exc:
            problems.append(str(exc))
    return problems


def validate_project(root: Path | None = None, suites: bool = True) -> tuple[int, list[str]]:
    """(entities checked, problems). Each system folder is checked on its own, so one broken file never
    hides the problems of another."""
    from etl.identity.overrides import load_overrides

    root = root or mappings_dir()
    problems: list[str] = []
    checked = 0
    for folder in system_folders(root):
        try:
            cfg = load_system(folder, strict=False)
        except MappingError as exc:
            problems.append(str(exc))
            continue
        checked += len(cfg.entities) + len(cfg.broken)
        problems += [cfg.broken[name] for name in sorted(cfg.broken)]
        if suites:
            problems += _suite_problems(cfg)
    problems += _outbound_problems(root)
    overrides = root / "identity" / "overrides.yml"
    try:
        load_overrides(overrides)
    except MappingError as exc:
        problems.append(str(exc))
    return checked, problems

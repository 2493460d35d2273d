"""docker-compose.yml checked against the project (there is no Docker engine here to run it).

The image is the official Airflow image at the locked version, every variable the code reads is provided,
every mounted or copied path exists, every command is one the installed `airflow` CLI accepts, secrets
come only from .env (each one listed in .env.example), no connection variable is set empty, and the README's
Production section names what the file runs.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build") == "."}
EXPECTED = {"postgres", "warehouse", "redis", "minio", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}
# Read by the code but meaningless for the compose file's PostgreSQL warehouse (DuckDB tuning only).
DUCKDB_ONLY = {"ETL_DUCKDB_LOCK_WAIT_S", "ETL_DUCKDB_MEMORY_LIMIT"}
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def env_example() -> dict[str, bool]:
    """Variable -> set (uncommented) in .env.example."""
    out: dict[str, bool] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line.strip())
        if m:
            out[m.group(2)] = out.get(m.group(2), False) or not m.group(1)
    return out


def variables_read_by_code() -> dict[str, str]:
    """ETL_* names the product reads: every string literal that is exactly such a name, in etl/."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "etl").rglob("*.py")):
        for name in re.findall(r"""["'](ETL_[A-Z0-9_]+)["']""", path.read_text()):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_service_is_there_and_healthchecked():
    assert EXPECTED <= set(SERVICES), EXPECTED - set(SERVICES)
    for name, service in SERVICES.items():
        if name != "airflow-init":
            assert "healthcheck" in service, f"{name}: no healthcheck"
    assert SERVICES["airflow-init"]["restart"] == "no"
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker, "a fixed name or port prevents --scale"


def test_image_is_the_official_airflow_image_at_the_locked_version():
    airflow = locked_version("apache-airflow")
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].lstrip(">=~")
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert froms == [f"apache/airflow:{airflow}-python{python}"], froms
    for name, service in AIRFLOW_SERVICES.items():
        assert service["image"].endswith(f":{airflow}"), (name, service["image"])
    assert set(AIRFLOW_SERVICES) == {s for s in EXPECTED if s.startswith("airflow-")}


def test_dockerfile_installs_from_the_lock_at_build_time():
    syncs = re.findall(r"^RUN uv sync (.*)$", DOCKERFILE, re.M)
    assert syncs and all("--frozen" in s and "--no-dev" in s and "--extra distributed" in s for s in syncs)
    uv = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"uv=={uv}" in DOCKERFILE, "the image's uv differs from the Makefile's"
    for name, service in AIRFLOW_SERVICES.items():  # nothing installs at container start
        command = " ".join(map(str, service.get("command", []) + service.get("entrypoint", [])))
        assert "pip install" not in command and "uv " not in command, name
    for source in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", DOCKERFILE, re.M):
        for part in source.split():
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which does not exist"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv/" in ignored


def test_every_variable_the_code_reads_is_provided():
    provided = SERVICES["airflow-worker"]["environment"]
    missing = {name: where for name, where in variables_read_by_code().items()
               if name not in provided and name not in DUCKDB_ONLY}
    assert not missing, (f"read by the code but not set in docker-compose.yml (x-airflow-common environment): "
                         f"{missing}; add it there (its secret part from .env, listed in .env.example)")
    assert {"ETL_WAREHOUSE_URL", "ETL_PII_SALT"} <= set(variables_read_by_code())  # the scan finds them
    for name, service in AIRFLOW_SERVICES.items():
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_the_warehouse_passes_the_distributed_guard(monkeypatch):
    from etl.load.warehouse import dialect_of, warehouse_url

    env = SERVICES["airflow-worker"]["environment"]
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", env["AIRFLOW__CORE__EXECUTOR"])
    monkeypatch.setenv("ETL_WAREHOUSE_URL", VAR_REF.sub("x", env["ETL_WAREHOUSE_URL"]))
    assert dialect_of(warehouse_url()) == "postgresql"
    assert env["ETL_STAGING_URL"].startswith("s3://")


def test_secrets_come_from_env_file_and_none_is_empty():
    listed = env_example()
    for m in VAR_REF.finditer(COMPOSE_TEXT):
        name, op, default = m.groups()
        assert name in listed, f"docker-compose.yml uses ${{{name}}}, which .env.example does not list"
        if op and op.endswith("-"):
            assert default, f"${{{name}:-}}: an empty default sets an empty variable"
        else:
            assert listed[name], f"{name} is required by docker-compose.yml: set it (uncommented) in .env.example"
    assert not re.search(r"AIRFLOW_CONN_\w+\s*:", COMPOSE_TEXT), "connections come from .env or the UI"
    for service in AIRFLOW_SERVICES.values():
        assert {"path": ".env", "required": True} in service["env_file"]
    for key, value in SERVICES["airflow-worker"]["environment"].items():  # no literal secret in the file
        if re.search(r"PASSWORD|SECRET|_KEY|_CONN$|_URL$", key) and not key.endswith("_FILE"):
            assert "${" in str(value) or "@" not in str(value) and "://" in str(value), (key, value)


def test_every_mounted_path_exists():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"
        for arg in service.get("entrypoint", []):
            if arg.startswith("/opt/etl/"):
                assert (ROOT / arg.removeprefix("/opt/etl/")).exists(), f"{name} runs {arg}: not in the project"


def airflow_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every airflow command the compose file and its init script run."""
    out = []
    for name, service in AIRFLOW_SERVICES.items():
        if "command" in service:
            out.append((f"{name}.command", [str(a) for a in service["command"]]))
        test = service.get("healthcheck", {}).get("test", [])
        text = test[1] if test[:1] == ["CMD-SHELL"] else " ".join(test[1:])
        if text.startswith("airflow "):
            out.append((f"{name}.healthcheck", shlex.split(text.replace("$$", "$"))[1:]))
    for line in (ROOT / "scripts" / "airflow_init.sh").read_text().splitlines():
        if line.startswith("airflow "):
            out.append(("scripts/airflow_init.sh", shlex.split(line)[1:]))
    return out


def test_each_command_is_a_valid_airflow_subcommand():
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    commands = airflow_commands()
    seen = {" ".join(argv[:2]) for _, argv in commands}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker", "db migrate"} <= \
        {s if s.startswith(("celery", "db", "jobs")) else s.split()[0] for s in seen}, seen
    for where, argv in commands:
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: `airflow {' '.join(argv)}` is not a valid airflow command")
        assert callable(args.func), where


def test_readme_production_section_matches_the_compose_file():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production", 1)[1].split("\n## ", 1)[0]
    for name in SERVICES:
        assert f"`{name}`" in section, f"README Production does not mention the service {name}"
    assert "--scale airflow-worker=" in section
    for name in ("ETL_STAGING_URL", "ETL_WAREHOUSE_URL", "pg_dump"):
        assert name in section, name
    assert f"apache/airflow:{locked_version('apache-airflow')}" in section

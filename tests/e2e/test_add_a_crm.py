"""The README's "Add a CRM" guide, followed as a user types it, with the commands read from the README.

The steps come from the README section itself (its `cp -r presets/<crm> mappings/<crm>` and `export
AIRFLOW_CONN_<CRM>_API=...` lines, the `etl` commands and the DAG id it names), so the guide and this test
cannot drift apart. The only substitutions are the ones a user makes: the access token and the host,
here a local server written from Salesforce's public API reference (tests/crm_servers/), reached over
plain http. Everything else runs as shell commands in a private project folder: no Python is added.

1. copy the preset folder into the mappings folder;
2. set the connection;
3. `etl validate`, then `etl run salesforce` (an in-process sync of every record);
4. the DAG `salesforce_sync` is listed by `airflow dags list`; after about 1% of the CRM's records
   change, `airflow dags test salesforce_sync` loads exactly those changes, and `warehouse_models`
   rebuilds the conformed tables and the marts with every Salesforce record in them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.crm_servers import TOKEN, start_vendor
from tests.helpers.warehouse import rows

pytestmark = pytest.mark.airflow

CRM = "salesforce"


def guide() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Add a CRM\n")
    return text[start:text.index("\n## ", start + 1)]


def guide_commands(section: str) -> tuple[str, str, list[str], str]:
    """The copy command, the connection line, the `etl` commands of step 3, the DAG id of step 4."""
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    copy = next(line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("cp "))
    export = next(line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("export "))
    step3 = next(p for p in re.split(r"\n\d\. ", section) if p.startswith("Check it"))
    etl = re.findall(r"`(etl [^`]+)`", step3)
    dag_id = re.search(r"The DAG `(\w+)` appears", section).group(1)
    return copy, export, etl, dag_id


def test_the_guide_names_the_salesforce_steps():
    copy, export, etl, dag_id = guide_commands(guide())
    assert copy == f"cp -r presets/{CRM} mappings/{CRM}"
    assert export.startswith(f"export AIRFLOW_CONN_{CRM.upper()}_API='https://:<access token>@")
    assert etl == ["etl validate", f"etl run {CRM}"] and dag_id == f"{CRM}_sync"


def _connection(export: str, host_port: str) -> tuple[str, str]:
    """What the user does with step 2: their token and host in the README's URL (here http, local)."""
    name, value = export.removeprefix("export ").split("=", 1)
    url = shlex.split(value)[0]
    assert re.fullmatch(r"https://:<access token>@<[^>]+>[\w.-]*", url), url  # token as password, host only
    return name, f"http://:{TOKEN}@{host_port}"


def _shell(command: str, cwd: Path, env: dict, timeout: int = 900) -> str:
    done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def project(tmp_path):
    """A user's project folder: their mappings (the repo's own systems) and the shipped presets."""
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "mappings", folder / "mappings")
    shutil.copytree(ROOT / "expectations", folder / "expectations")
    shutil.copytree(ROOT / "presets", folder / "presets")
    return folder


def test_add_a_crm_as_the_readme_says(project, tmp_path, monkeypatch):
    copy, export, etl_commands, dag_id = guide_commands(guide())
    warehouse = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ETL_MAPPINGS_DIR": str(project / "mappings"), "ETL_WAREHOUSE_URL": warehouse,
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW_CONN_SALESFORCE_API", None)

    _shell(copy, project, env)  # step 1
    assert (project / "mappings" / CRM / "_system.yml").exists()

    with start_vendor(CRM, monkeypatch) as vendor:
        name, value = _connection(export, vendor.url.removeprefix("http://"))
        env[name] = value  # step 2
        store = vendor.store

        out = _shell(etl_commands[0], project, env)  # step 3: etl validate, then etl run salesforce
        assert out.startswith("ok: ")
        out = _shell(etl_commands[1], project, env)
        read = {m[0]: int(m[1]) for m in re.findall(rf"^{CRM}\.(\w+): extracted (\d+)", out, re.M)}
        assert read and all(n > 0 for n in read.values()), out

        # step 4: the DAG appears, with no Python added, and a run through Airflow loads the changes
        _shell("airflow db migrate", project, env)
        listed = _shell("airflow dags list --local -o plain", project, env)  # a parse of the DAG folder
        assert re.search(rf"^{dag_id}\s", listed, re.M), listed
        touched = store.touch(0.01)
        _shell(f"airflow dags test {dag_id}", project, env)
        audit = rows(warehouse, "SELECT entity, status, updated, inserted FROM etl_runs "
                                "WHERE pipeline = :p AND run_id NOT LIKE 'manual__cli__%'", p=dag_id)
        assert audit and {status for _, status, _, _ in audit} == {"success"}, audit
        updated = sum(u for _, _, u, _ in audit)
        assert updated == sum(touched.values()) and sum(i for *_, i in audit) == 0, (audit, touched)

        _shell("airflow dags test warehouse_models", project, env)

    for table in ("accounts", "contacts", "deals", "users"):
        got = rows(warehouse, f"SELECT count(*) FROM crm_{table} WHERE source_system = :s", s=CRM)[0][0]
        assert got == len(store.objects[table]), table
    deals = rows(warehouse, "SELECT count(*), count(*) FILTER (WHERE is_won) FROM fct_deals "
                            "WHERE source_system = :s", s=CRM)[0]
    assert deals == (len(store.objects["deals"]), sum(d["won"] for d in store.objects["deals"]))
    edited = sum(float(d["amount"]) for d in store.objects["deals"])
    assert float(rows(warehouse, "SELECT sum(amount) FROM fct_deals WHERE source_system = :s", s=CRM)[0][0]) \
        == pytest.approx(edited)  # the amounts as the CRM holds them after the edits

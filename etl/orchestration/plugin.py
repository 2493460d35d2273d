"""The Airflow plugin of this project (registered by the package's `airflow.plugins` entry point):

- a listener that, when a `<system>_sync` run finishes, copies the run summary its `summary` task left
  (XCom `run_note`) into the DAG run's note, the Markdown box on the run page of the UI. Task code
  cannot write the metadata database in Airflow 3; the scheduler, where listeners run, can.
- `/etl-reports/`: the api-server serves the data-quality reports (`etl.ops.dq_report`), so the note's
  link opens the report in the browser, and a "Data quality" entry in the UI's navigation lists them.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)
NOTE_KEY = "run_note"
SUMMARY_TASK = "summary"


def _note_from_xcom(dag_run, session) -> str | None:
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=SUMMARY_TASK,
                               key=NOTE_KEY)
    row = session.scalars(query).first()
    if row is None:
        return None
    value = XComModel.deserialize_value(row)
    return value if isinstance(value, str) else None


def _apply(dag_run, session) -> None:
    note = _note_from_xcom(dag_run, session)
    if note and not dag_run.note:  # a note a person wrote is never overwritten
        dag_run.note = (note, None)


class RunNoteListener:
    """Sets the note of a finished sync run; never raises into the scheduler."""

    def _set(self, dag_run) -> None:
        if not dag_run.dag_id.endswith("_sync"):
            return
        try:
            from sqlalchemy.orm import object_session

            session = object_session(dag_run)
            if session is not None:  # the scheduler: its own session commits the note with the state
                _apply(dag_run, session)
                return
            from airflow.models.dagrun import DagRun
            from airflow.utils.session import create_session

            with create_session() as own:  # `dag.test()` hands over a detached run
                _apply(own.query(DagRun).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).one(), own)
        except Exception:
            log.exception("could not set the run note of %s", dag_run.run_id)

    @hookimpl
    def on_dag_run_success(self, dag_run, msg: str) -> None:
        self._set(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run, msg: str) -> None:
        self._set(dag_run)


def reports_app():
    """A small FastAPI app serving the report folder (and a listing of the newest reports)."""
    from html import escape

    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    from etl.ops.dq_report import URL_PREFIX, reports_dir

    app = FastAPI(title="ETL data-quality reports")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        root = reports_dir()
        files = sorted(root.glob("*/*.html"), key=lambda p: p.stat().st_mtime, reverse=True)[:200] \
            if root.exists() else []
        items = "".join(f"<li><a href='{URL_PREFIX}/{escape(p.relative_to(root).as_posix())}'>"
                        f"{escape(p.parent.name)} · {escape(p.stem)}</a></li>" for p in files)
        return f"<!doctype html><meta charset=utf-8><h1>Data-quality reports</h1><ul>{items or 'none yet'}</ul>"

    @app.get("/{pipeline}/{name}")
    def report(pipeline: str, name: str):
        root = reports_dir().resolve()
        path = (root / pipeline / name).resolve()
        if root not in path.parents or path.suffix != ".html" or not path.is_file():
            raise HTTPException(status_code=404, detail="no such report")
        return FileResponse(path, media_type="text/html")

    return app


class EtlPlugin(AirflowPlugin):
    name = "etl"
    listeners = [RunNoteListener()]

    @property
    def fastapi_apps(self):  # built lazily: only the api-server needs it
        return [{"app": reports_app(), "url_prefix": "/etl-reports", "name": "ETL data-quality reports"}]

    external_views = [{"name": "Data quality", "href": "/etl-reports/", "destination": "nav",
                       "url_route": "etl-reports"}]

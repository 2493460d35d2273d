"""Run DAGs in this process (`dag.test()`) and write every task's log where the Airflow UI reads it.

`make demo` runs each DAG once. Through an executor every task is a process of its own that imports
Airflow and the pipeline again, and an api-server has to be up for them to talk to: most of the demo's
minutes went there. In one process one import serves every task, and `dag.test()` records real DAG runs
and task instances in Airflow's database, which `make ui` then shows.

`dag.test()` alone logs to the console only, so the UI would show these runs with empty task logs. A
listener opens, for each task try, the file the UI reads (`[logging] base_log_folder` plus
`log_filename_template`: `dag_id=…/run_id=…/task_id=…/attempt=N.log`) and writes the task's log records
into it as the JSON lines Airflow's own task logs use (`timestamp`, `level`, `logger`, `event`), ending
with the task's outcome and, for a failure, the error with its traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

from airflow.listeners import hookimpl


def log_path(ti) -> Path:
    """Where the UI looks for the log of this task try (the configured template, rendered as Airflow does)."""
    import jinja2
    from airflow.configuration import conf

    template = conf.get("logging", "log_filename_template")
    relative = jinja2.Template(template).render(ti=ti, try_number=ti.try_number)
    return Path(conf.get("logging", "base_log_folder")) / relative


class JsonLinesHandler(logging.Handler):
    """Log records of one thread (the task's) as Airflow's structured JSON lines."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = path.open("a", encoding="utf-8")
        self.thread = threading.get_ident()  # the in-process API server logs from its own thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            event = record.getMessage()
            if record.exc_info:
                event += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self.write(event, record.levelname.lower(), record.name, record.created)
        except Exception:  # a log line must never fail the task
            self.handleError(record)

    def write(self, event: str, level: str = "info", logger: str = "task", created: float | None = None) -> None:
        moment = dt.datetime.fromtimestamp(created if created is not None else dt.datetime.now().timestamp(),
                                           dt.UTC)
        line = {"timestamp": moment.isoformat(), "level": level, "logger": logger, "event": event}
        self.stream.write(json.dumps(line, default=str) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()
        super().close()


class TaskLogFiles:
    """Listener: a task try's log records go to its log file from `running` until success or failure."""

    def __init__(self) -> None:
        self.open: dict[tuple, JsonLinesHandler] = {}

    @staticmethod
    def _key(ti) -> tuple:
        return ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance) -> None:
        handler = JsonLinesHandler(log_path(task_instance))
        handler.write(f"{task_instance.dag_id}.{task_instance.task_id} try {task_instance.try_number}, "
                      f"run {task_instance.run_id}: started (make demo, in-process)")
        logging.getLogger().addHandler(handler)
        self.open[self._key(task_instance)] = handler

    def _finish(self, ti, state: str, error: BaseException | str | None = None) -> None:
        handler = self.open.pop(self._key(ti), None)
        if handler is None:
            return
        logging.getLogger().removeHandler(handler)
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
            handler.write(f"Task failed with exception\n{text}", "error")
        elif error:
            handler.write(f"Task failed: {error}", "error")
        handler.write(f"Task instance in {state} state", "info" if state == "success" else "error")
        handler.close()

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self._finish(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        self._finish(task_instance, "failed", error)


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Everything written to this process's stdout and stderr (Airflow's console log) goes to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class DagRunner:
    """Airflow's metadata database migrated, the DAG folder parsed once, the task-log listener in place."""

    def __init__(self, console_log: Path) -> None:
        self.console_log = console_log
        with output_to(console_log):
            from airflow.dag_processing.dagbag import DagBag
            from airflow.sdk.listener import get_listener_manager
            from airflow.utils.db import initdb

            initdb()  # creates a fresh database, migrates an older one, leaves a current one as it is
            self.bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
            get_listener_manager().add_listener(TaskLogFiles())

    def run(self, dag_id: str, log: Path) -> str:
        """One DAG run, its console output in `log`; its state ("success", "failed"), or the error."""
        dag = self.bag.dags.get(dag_id)
        if dag is None:
            return f"not found ({self.bag.import_errors or 'no such DAG'})"
        log.unlink(missing_ok=True)
        with output_to(log):
            try:
                run = dag.test()
            except Exception as exc:  # reported in the demo's table, the traceback is in the log
                traceback.print_exc()
                return f"error: {type(exc).__name__}: {exc}"
        return str(run.state)

"""Task bodies of the `push_<sync>` DAGs: plain functions, runnable without Airflow.

A failure a retry cannot fix (a bad sync file, the mirror guard, too many rejects, broken accounting,
refused credentials) fails the task at once; a target that is down is retried by Airflow.
"""

from __future__ import annotations

import functools

from etl.config.loader import MappingError


def _permanent() -> tuple[type[BaseException], ...]:
    from etl.push.run import PushError
    from etl.sources.connections import ConnectionNotFound

    return (MappingError, PushError, ConnectionNotFound)


def fail_fast(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _permanent() as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


@fail_fast
def run_sync(name: str, run_id: str, dry_run: bool = False) -> dict:
    """Run (or dry-run) outbound sync `name`; returns its counts for XCom."""
    from etl.config.outbound import load_syncs
    from etl.push.run import dry_run as plan_only
    from etl.push.run import push

    sync = load_syncs()[name]
    result = plan_only(sync, run_id) if dry_run else push(sync, run_id)
    return {"sync": name, "status": result.status, **result.counts, "requests": result.requests,
            "samples": result.samples}

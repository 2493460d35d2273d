"""`[core] hostname_callable` of the distributed test's Celery workers: each worker process runs on this one
machine but reports its own host name (ETL_TEST_WORKER_HOST), as two hosts would; Airflow records it in
task_instance.hostname, which is how the test sees which worker ran a task."""

import os


def hostname() -> str:
    return os.environ["ETL_TEST_WORKER_HOST"]

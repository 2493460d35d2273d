"""The peer: dlt's `rest_api` source syncing the demo CRM's contacts into DuckDB.

Runs inside the benchmark's own virtualenv (`bench/.venv-dlt`, see `bench/peer_env.py`), never the
product's: the product does not depend on dlt. Same endpoint, same page size, same data as the product;
merge on `id`, incremental on `updatedAt` through the server's `updatedAfter` filter.

    bench/.venv-dlt/bin/python bench/peer_dlt.py '{"url": ..., "token": ..., "page_size": 1000,
        "pipelines_dir": ..., "duckdb": ..., "config": "tuned" | "default"}'

Prints one JSON line: rows loaded this run, seconds for `pipeline.run` (imports excluded), and the
process's own peak RSS (normalize workers are separate processes; the runner samples the tree).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

# dlt's documented throughput settings (docs "Optimizing dlt": intermediate file compression off,
# extract files rotated so normalize can split work, parallel normalize workers).
TUNED_ENV = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__WORKERS": "2",
    "EXTRACT__DATA_WRITER__FILE_MAX_ITEMS": "100000",
}


def source_config(args: dict) -> dict:
    return {
        "client": {
            "base_url": args["url"],
            "auth": {"type": "bearer", "token": args["token"]},
            "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"},
        },
        "resources": [
            {
                "name": "contacts",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "crm/v3/objects/contacts",
                    "data_selector": "results",
                    "params": {
                        "limit": args["page_size"],
                        "updatedAfter": {
                            "type": "incremental",
                            "cursor_path": "updatedAt",
                            "initial_value": "1970-01-01T00:00:00.000Z",
                        },
                    },
                },
            }
        ],
    }


def main(args: dict) -> dict:
    tuned = args["config"] == "tuned"
    if tuned:
        os.environ.update(TUNED_ENV)
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    pipeline = dlt.pipeline(
        pipeline_name="crm_peer",
        pipelines_dir=args["pipelines_dir"],
        destination=dlt.destinations.duckdb(args["duckdb"]),
        dataset_name="crm",
    )
    source = rest_api_source(source_config(args), parallelized=tuned)
    started = time.perf_counter()
    info = pipeline.run(source, loader_file_format="parquet" if tuned else None)
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("contacts", 0)
    del info
    return {"rows": rows, "seconds": round(seconds, 3), "dlt": dlt.__version__,
            "self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(json.loads(sys.argv[1]))), flush=True)

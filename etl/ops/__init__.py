"""What operators see and do: run summaries, the data-quality report, alerts, freshness, quarantine
replay, lineage and progress. The `etl` command line (`etl/cli.py`) and the DAG tasks both call these."""

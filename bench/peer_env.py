"""The peer's own virtualenv, `bench/.venv-dlt` (git-ignored): created on first use, from PyPI.

dlt is never a product dependency: it lives only here, and the peer runs as a subprocess of this
venv's interpreter. The version is pinned so that results stay comparable between runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DLT_REQUIREMENT = "dlt[duckdb]==1.31.0"
VENV = Path(__file__).resolve().parent / ".venv-dlt"
PYTHON = VENV / "bin" / "python"


def ensure() -> Path:
    """The venv's python, installing dlt first if it is missing (about 25 s on a fresh machine)."""
    if _has_dlt():
        return PYTHON
    print(f"bench: creating {VENV} with {DLT_REQUIREMENT} (one-off)", file=sys.stderr, flush=True)
    subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", DLT_REQUIREMENT, "pyarrow"], check=True)
    if not _has_dlt():
        raise RuntimeError(f"{VENV}: dlt did not install")
    return PYTHON


def _has_dlt() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import dlt, pyarrow, duckdb"], capture_output=True)
    return probe.returncode == 0

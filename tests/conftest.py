"""Shared pytest set-up: quiet TensorFlow, default Keras backend, the repo root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where the Snakefile is)."""
    return REPO

# Test helpers (synthetic shards, fault servers, the SLURM fixture) live in tests/ and
# are imported by name from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Keep each test module on one xdist worker (``make test`` runs ``-n 2 --dist
    loadgroup``): module fixtures such as a completed workflow are built once, and the
    SLURM modules share one worker, since only one test cluster can own /run/slurm/conf."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = Path(str(item.path)).resolve()
        group = "slurm" if path.parent.name == "slurm" else path.stem
        item.add_marker(pytest.mark.xdist_group(group))

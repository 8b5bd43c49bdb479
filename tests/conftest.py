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

"""galstar.logs.rule_log: a script's failure (with traceback) and its summary reach the
rule's log file."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from galstar.logs import describe_output, rule_log


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """rule_log replaces the root handlers (as in a job's own process): put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _job(tmp_path, outputs=()):
    return SimpleNamespace(log=[str(tmp_path / "logs" / "rule.log")], rule="baseline",
                           wildcards=SimpleNamespace(items=lambda: [("method", "m")]),
                           output=list(outputs))


def test_failure_leaves_its_traceback_in_the_log(tmp_path):
    job = _job(tmp_path)

    def fail():
        raise RuntimeError("no training objects")

    with pytest.raises(RuntimeError, match="no training objects"), rule_log(job):
        logging.getLogger("galstar.test").info("step one done")
        fail()
    text = (tmp_path / "logs" / "rule.log").read_text()
    assert "job baseline {'method': 'm'} started" in text
    assert "step one done" in text
    assert "job baseline {'method': 'm'} failed" in text
    assert "Traceback (most recent call last)" in text
    assert "in fail" in text and "RuntimeError: no training objects" in text
    assert "done in" not in text


def test_success_logs_every_output_with_its_counts(tmp_path):
    table, tensor, csv = tmp_path / "t.parquet", tmp_path / "x.npy", tmp_path / "m.csv"
    job = _job(tmp_path, [table, tensor, csv])
    with rule_log(job) as log:
        pd.DataFrame({"a": range(7)}).to_parquet(table)
        np.save(tensor, np.zeros((7, 4, 4, 3), np.float32))
        pd.DataFrame({"a": range(3)}).to_csv(csv, index=False)
        log.info("7 predictions written")
    lines = (tmp_path / "logs" / "rule.log").read_text().splitlines()
    assert lines[1].endswith("7 predictions written")
    assert lines[2].endswith(f"output {table}: 7 rows")
    assert lines[3].endswith(f"output {tensor}: shape (7, 4, 4, 3)")
    assert lines[4].endswith(f"output {csv}: 3 rows")
    assert "job baseline {'method': 'm'} done in" in lines[5]


def test_describe_output_of_a_directory_and_a_missing_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.fits").write_bytes(b"x")
    assert describe_output(tmp_path / "d") == f"{tmp_path / 'd'}: 1 files"
    assert "unreadable" in describe_output(tmp_path / "missing.bin")

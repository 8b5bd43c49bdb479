"""Atomic outputs get the permissions a plain open() gives under the user's umask.

Each case runs in a child process started with its own umask, so the test never changes
the umask of the pytest process (the umask is process-wide).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import json, os, stat, sys
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar import io

out = Path(sys.argv[1])
modes = {}
with open(out / "plain.txt", "w") as fh:
    fh.write("x")
io.write_parquet(pd.DataFrame({"a": [1, 2]}), out / "sub" / "table.parquet")
io.save_npy(np.zeros(3, np.float32), out / "tensor.npy")
with io.atomic_path(out / "text.csv") as tmp:
    tmp.write_text("a\n1\n")
with io.atomic_path(out / "table.fits") as tmp:  # astropy writes into the existing temp
    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp)
for path in out.rglob("*"):
    if path.is_file():
        modes[str(path.relative_to(out))] = stat.S_IMODE(path.stat().st_mode)
print(json.dumps({"modes": modes, "umask": io.current_umask(),
                  "by_setting": io._umask_by_setting(), "new_file_mode": io.new_file_mode(),
                  "leftovers": [p.name for p in out.rglob(".*")]}))
"""


def _run(tmp_path: Path, umask: int) -> dict:
    out = tmp_path / f"umask-{umask:03o}"
    out.mkdir()
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)], env=env, capture_output=True, text=True,
        preexec_fn=lambda: os.umask(umask), timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600),
                                                 (0o002, 0o664)])
def test_atomic_files_get_the_umask_mode(tmp_path: Path, umask: int, expected: int) -> None:
    got = _run(tmp_path, umask)
    assert got["umask"] == umask  # read from /proc, without setting it
    assert got["by_setting"] == umask  # ... and current_umask left it as it was
    assert got["new_file_mode"] == expected
    assert got["modes"]["plain.txt"] == expected
    assert set(got["modes"]) == {"plain.txt", "sub/table.parquet", "tensor.npy", "text.csv",
                                 "table.fits"}
    assert got["modes"] == dict.fromkeys(got["modes"], expected)
    assert got["leftovers"] == []


def test_failed_block_leaves_no_temporary(tmp_path: Path) -> None:
    from galstar import io

    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_without_proc_the_import_time_umask_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from galstar import io

    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/status")

    monkeypatch.setattr(io, "open", no_proc, raising=False)
    monkeypatch.setattr(io, "_IMPORT_UMASK", 0o077)
    assert io.current_umask() == 0o077
    assert io.new_file_mode() == 0o600

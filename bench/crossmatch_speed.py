"""Cross-match throughput on a synthetic sweep file (``make bench`` via bench_acquire).

Kept out of the package: a benchmark, not pipeline code.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.catalog.crossmatch import DR9_COLUMNS, match_streaming

__all__ = ["benchmark_crossmatch"]


def _write_synthetic_sweep(path: str, ra: np.ndarray, dec: np.ndarray, seed: int) -> None:
    """A sweep file with every :data:`DR9_COLUMNS` column, DR9 dtypes, random values."""
    n = len(ra)
    rng = np.random.default_rng(seed)
    cols = [
        fits.Column("RELEASE", "I", array=np.full(n, 9010, dtype=np.int16)),
        fits.Column("BRICKID", "J", array=(np.arange(n) // 5000).astype(np.int32)),
        fits.Column("OBJID", "J", array=(np.arange(n) % 5000).astype(np.int32)),
        fits.Column("TYPE", "3A", array=rng.choice(["PSF", "REX", "EXP", "DEV", "SER"], n)),
        fits.Column("RA", "D", array=ra),
        fits.Column("DEC", "D", array=dec),
    ]
    for name in DR9_COLUMNS:
        if any(c.name == name for c in cols):
            continue
        if name.startswith("NOBS") or name == "MASKBITS":
            cols.append(fits.Column(name, "I", array=rng.integers(0, 5, n).astype(np.int16)))
        else:
            cols.append(fits.Column(name, "E", array=rng.random(n, dtype=np.float32)))
    fits.BinTableHDU.from_columns(cols).writeto(path)


def benchmark_crossmatch(n_mpa: int, n_dr9: int, seed: int, chunk_rows: int = 100_000) -> dict:
    """Measure cross-match throughput on a synthetic sweep file.

    ``n_dr9`` sources (every :data:`DR9_COLUMNS` column) are drawn uniformly in one
    10 x 5 deg sweep box; ``n_mpa`` of them get a spectrum offset by ~0.3 arcsec. The
    timed part is :func:`match_streaming` end to end (FITS reads included) with a
    3 arcsec radius. The matcher is single threaded, so CPU seconds are core seconds.

    Returns
    -------
    dict
        n_mpa, n_dr9, chunk_rows, wall_s, cpu_s; ``dr9_rows_per_s_per_core`` and
        ``mpa_rows_per_s_per_core`` (rows per CPU second); ``dr9_rows_per_s_wall``
        (rows per wall-clock second, file I/O waits included); ``completeness``
        (fraction of spectra matched to their own source, a sanity check).
    """
    if not 0 < n_mpa <= n_dr9:
        raise ValueError(f"need 0 < n_mpa <= n_dr9, got n_mpa={n_mpa}, n_dr9={n_dr9}")
    rng = np.random.default_rng(seed)
    ra = rng.uniform(150.0, 160.0, n_dr9)
    dec = np.rad2deg(np.arcsin(rng.uniform(np.sin(np.deg2rad(0.0)),
                                           np.sin(np.deg2rad(5.0)), n_dr9)))
    host = rng.choice(n_dr9, n_mpa, replace=False)
    offset = rng.normal(0.0, 0.3 / 3600.0, (2, n_mpa))
    mpa = pd.DataFrame({
        "specObjID": np.arange(n_mpa, dtype=np.int64),
        "ra": ra[host] + offset[0] / np.cos(np.deg2rad(dec[host])),
        "dec": dec[host] + offset[1],
    })
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sweep-150p000-160p005.fits")
        _write_synthetic_sweep(path, ra, dec, seed)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = match_streaming(mpa, [path], 3.0, chunk_rows)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    hit = out["matched"].to_numpy() & (out["OBJID"].to_numpy() == host % 5000) & (
        out["BRICKID"].to_numpy() == host // 5000
    )
    cpu = max(cpu, 1e-9)
    return {
        "n_mpa": int(n_mpa),
        "n_dr9": int(n_dr9),
        "chunk_rows": int(chunk_rows),
        "wall_s": wall,
        "cpu_s": cpu,
        "dr9_rows_per_s_per_core": n_dr9 / cpu,
        "mpa_rows_per_s_per_core": n_mpa / cpu,
        "dr9_rows_per_s_wall": n_dr9 / max(wall, 1e-9),
        "completeness": float(hit.mean()),
    }

"""DR9 neighbours of catalogued galaxies, streamed from sweep files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.catalog.neighbours import (
    NEIGHBOUR_SWEEP_COLUMNS,
    find_neighbours,
    match_sweep_identity,
    run_neighbours,
)
from galstar.io import read_parquet, write_parquet

RA0, DEC0 = 160.0, 32.0
ARCSEC = 1.0 / 3600.0


def write_sweep(path, rows):
    """A sweep file holding ``rows`` (RELEASE, OBJID, dx_arcsec east, dy_arcsec north)."""
    release = np.array([r[0] for r in rows], np.int16)
    objid = np.array([r[1] for r in rows], np.int32)
    dx = np.array([r[2] for r in rows]) * ARCSEC
    dy = np.array([r[3] for r in rows]) * ARCSEC
    n = len(rows)
    cols = [
        fits.Column("RELEASE", "I", array=release),
        fits.Column("BRICKID", "J", array=np.full(n, 7, np.int32)),
        fits.Column("OBJID", "J", array=objid),
        fits.Column("RA", "D", array=RA0 + dx / np.cos(np.radians(DEC0))),
        fits.Column("DEC", "D", array=DEC0 + dy),
    ]
    for name in NEIGHBOUR_SWEEP_COLUMNS:
        if name == "TYPE":
            cols.append(fits.Column(name, "3A", array=np.full(n, "EXP")))
        else:
            cols.append(fits.Column(name, "E", array=np.ones(n, np.float32)))
    fits.BinTableHDU.from_columns(cols).writeto(path)


@pytest.fixture
def sweep(tmp_path):
    path = tmp_path / "sweep-150p030-160p035.fits"
    write_sweep(path, [
        (9000, 0, 0.0, 0.0),      # the galaxy itself
        (9010, 0, 0.05, 0.0),     # its duplicate in the other region's catalogue
        (9000, 1, 10.0, 0.0),     # a neighbour 10" east
        (9000, 2, 0.0, -20.0),    # one 20" south
        (9010, 3, 0.0, 12.0),     # a source catalogued in the other region only
        (9000, 4, 60.0, 0.0),     # beyond the radius
        (9010, 5, 10.3, 0.2),     # the 10" neighbour's duplicate
    ])
    return str(path)


def galaxy_table():
    return pd.DataFrame({"object_id": [42], "RA": [RA0], "DEC": [DEC0], "RELEASE": [9000],
                         "BRICKID": [7], "OBJID": [0]})


def test_neighbours_within_radius_without_duplicates(sweep):
    found = find_neighbours(galaxy_table(), [sweep], 45.0, chunk_rows=2)
    assert found["OBJID"].tolist() == [1, 3, 2]
    assert found["RELEASE"].tolist() == [9000, 9010, 9000]
    assert (found["object_id"] == 42).all()
    assert found["dx_arcsec"].to_numpy() == pytest.approx([10.0, 0.0, 0.0], abs=1e-3)
    assert found["dy_arcsec"].to_numpy() == pytest.approx([0.0, 12.0, -20.0], abs=1e-3)
    assert found["sep_arcsec"].to_numpy() == pytest.approx([10.0, 12.0, 20.0], abs=1e-3)
    assert set(NEIGHBOUR_SWEEP_COLUMNS) <= set(found.columns)


def test_no_galaxies_or_no_neighbours(sweep):
    assert len(find_neighbours(galaxy_table().iloc[:0], [sweep], 45.0)) == 0
    assert len(find_neighbours(galaxy_table(), [sweep], 5.0)) == 0


def test_match_sweep_identity(sweep):
    table = match_sweep_identity(np.array([RA0, RA0 + 1.0]), np.array([DEC0, DEC0]), [sweep])
    assert table.loc[0, ["RELEASE", "BRICKID", "OBJID"]].tolist() == [9000, 7, 0]
    assert table.loc[1, "RELEASE"] == -1


def test_run_neighbours_writes_one_table_per_shard(sweep, tmp_path):
    shards = []
    for k, oid in enumerate((42, 43)):
        path = tmp_path / f"shard-00{k}.parquet"
        table = galaxy_table().assign(object_id=oid)
        if oid == 43:  # far from every sweep source
            table = table.assign(RA=RA0 + 1.0, OBJID=99)
        write_parquet(table, path)
        shards.append(str(path))
    sweeps = tmp_path / "sweeps.txt"
    sweeps.write_text(sweep + "\n")
    outs = [str(tmp_path / f"nb-{k}.parquet") for k in range(2)]
    run_neighbours(shards, sweeps, outs, radius_arcsec=45.0)
    assert read_parquet(outs[0])["OBJID"].tolist() == [1, 3, 2]
    assert len(read_parquet(outs[1])) == 0

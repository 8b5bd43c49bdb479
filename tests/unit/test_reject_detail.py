"""``reject_detail``: the cause behind ``bad_pixels`` and ``unreadable_cutout``.

Constructed cutouts, each broken in one known way, must come back with exactly that
cause, in the per-cutout result, in the shard table (beside ``reject_reason``) and in
the shard's log summary.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.imaging.pipeline import (
    BAD_PIXEL_CAUSES,
    PreprocessConfig,
    bad_pixel_detail,
    preprocess_cutout,
)
from galstar.imaging.shard import preprocess_shard

N = 152
YY, XX = np.mgrid[:N, :N].astype(np.float64)


def galaxy_cube(n: int = N, seed: int = 1) -> np.ndarray:
    """A centred round galaxy with noise that the pipeline keeps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(np.float64)
    c = (n - 1) / 2.0
    img = 2.0 * np.exp(-0.5 * ((xx - c) ** 2 + (yy - c) ** 2) / 3.0**2)
    cube = np.array([0.6, 1.0, 1.3])[:, None, None] * img + rng.normal(0, 0.005, (3, n, n))
    return cube.astype(np.float32)


def broken(kind: str) -> np.ndarray:
    cube = galaxy_cube()
    if kind == "nan_r":
        cube[1, 10, 10] = np.nan
    elif kind == "nan_g_inf_z":
        cube[0, 3, 4] = np.nan
        cube[2, 100, 7] = -np.inf
    elif kind == "zero_z":
        cube[2] = 0.0
    elif kind == "zero_gr":
        cube[:2] = 0.0
    elif kind == "nan_g_zero_r":  # the non-finite check runs first
        cube[0, 0, 0] = np.nan
        cube[1] = 0.0
    return cube


@pytest.mark.parametrize(("cube", "crop", "detail"), [
    (broken("nan_r"), 64, "nonfinite_pixels:r"),
    (broken("nan_g_inf_z"), 64, "nonfinite_pixels:gz"),
    (broken("zero_z"), 64, "zero_band:z"),
    (broken("zero_gr"), 64, "zero_band:gr"),
    (broken("nan_g_zero_r"), 64, "nonfinite_pixels:g"),
    (galaxy_cube(40), 64, "smaller_than_crop:40x40<64"),
    (galaxy_cube(), 160, "smaller_than_crop:152x152<160"),
    (np.zeros((2, 10, 10), np.float32), 64, "bad_shape:2x10x10"),
    (np.ones((3, 10, 12), np.float32), 8, "bad_shape:3x10x12"),
    (np.ones((3, 152), np.float32), 64, "bad_shape:3x152"),
    (np.full((3, 4, 4), "a"), 2, "not_numeric:<U1"),
    (galaxy_cube(), 64, None),
])
def test_bad_pixel_detail(cube, crop, detail) -> None:
    assert bad_pixel_detail(cube, crop) == detail
    if detail is not None:
        assert detail.split(":")[0] in BAD_PIXEL_CAUSES


def test_preprocess_cutout_records_the_cause() -> None:
    result = preprocess_cutout(broken("zero_z"), PreprocessConfig())
    assert result.reject_reason == "bad_pixels" and result.reject_detail == "zero_band:z"
    assert result.image is None
    small = preprocess_cutout(galaxy_cube(40), PreprocessConfig(crop=64))
    assert (small.reject_reason, small.reject_detail) == ("bad_pixels",
                                                          "smaller_than_crop:40x40<64")
    kept = preprocess_cutout(galaxy_cube(), PreprocessConfig())
    assert kept.reject_reason is None and kept.reject_detail == ""


def test_shard_table_has_reject_detail(tmp_path, caplog) -> None:
    cubes = {1: galaxy_cube(), 2: broken("nan_r"), 3: broken("zero_z"), 4: galaxy_cube(40),
             5: broken("nan_g_inf_z"), 6: broken("nan_r")}
    rows = []
    for oid, cube in cubes.items():
        path = tmp_path / f"{oid}.fits"
        fits.PrimaryHDU(cube).writeto(path)
        rows.append({"object_id": oid, "path": str(path), "status": "ok",
                     "reject_reason": ""})
    (tmp_path / "7.fits").write_bytes(b"<html>not a FITS</html>")
    fits.PrimaryHDU().writeto(tmp_path / "8.fits")
    rows += [
        {"object_id": 7, "path": str(tmp_path / "7.fits"), "status": "ok", "reject_reason": ""},
        {"object_id": 8, "path": str(tmp_path / "8.fits"), "status": "ok", "reject_reason": ""},
        {"object_id": 9, "path": str(tmp_path / "gone.fits"), "status": "ok",
         "reject_reason": ""},
        {"object_id": 10, "path": "", "status": "failed", "reject_reason": "http_404"},
    ]
    catalog = pd.DataFrame({"object_id": list(range(1, 12))})  # 11: not in the manifest
    with caplog.at_level(logging.INFO, logger="galstar.imaging.shard"):
        table, tensor = preprocess_shard(pd.DataFrame(rows), catalog, PreprocessConfig())
    got = dict(zip(table["object_id"],
                   zip(table["reject_reason"].fillna("kept"), table["reject_detail"],
                       strict=True), strict=True))
    assert got == {
        1: ("kept", ""),
        2: ("bad_pixels", "nonfinite_pixels:r"),
        3: ("bad_pixels", "zero_band:z"),
        4: ("bad_pixels", "smaller_than_crop:40x40<64"),
        5: ("bad_pixels", "nonfinite_pixels:gz"),
        6: ("bad_pixels", "nonfinite_pixels:r"),
        7: ("unreadable_cutout", "not_fits"),
        8: ("unreadable_cutout", "no_image"),
        9: ("unreadable_cutout", "missing_file"),
        10: ("http_404", ""),
        11: ("missing_cutout", ""),
    }
    columns = list(table.columns)
    assert columns[columns.index("reject_reason") + 1] == "reject_detail"
    assert table["reject_detail"].map(type).eq(str).all()
    assert tensor.shape == (1, 64, 64, 3) and list(table["row"]) == [0] + [-1] * 10
    summary = [r.getMessage() for r in caplog.records if "reject causes" in r.getMessage()]
    assert len(summary) == 1
    assert "'bad_pixels nonfinite_pixels:r': 2" in summary[0]
    assert "'unreadable_cutout missing_file': 1" in summary[0]

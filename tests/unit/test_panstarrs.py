"""Pan-STARRS1 cutouts (galstar.archives.panstarrs): the band order comes from each
file's header whatever the listing or file order, fluxes share one zero point, a
missing band is named; the listing parser."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from astropy.io import fits

from galstar.archives.panstarrs import parse_listing, read_ps1_cutouts
from galstar.archives.validate import Rejected
from galstar.mock.ps1_images import listing_text

# each band's plane holds its own value: 1 nmgy x (band index + 1)
EXPTIME = {"g": 400.0, "r": 350.0, "i": 900.0, "z": 480.0, "y": 250.0}


def _band_file(path, band, key="HIERARCH FPA.FILTER", zp=True):
    zp_value = 25.0 + 2.5 * np.log10(EXPTIME[band])
    counts = ("grizy".index(band) + 1.0) * 10 ** (0.4 * (zp_value - 22.5))
    header = fits.Header()
    header[key] = f"{band}.00000"
    header["EXPTIME"] = EXPTIME[band]
    if zp:
        header["HIERARCH FPA.ZP"] = zp_value
    fits.PrimaryHDU(np.full((6, 7), counts, np.float32), header).writeto(path)
    return path


@pytest.fixture
def files(tmp_path):
    keys = {"g": "HIERARCH FPA.FILTER", "r": "FILTER", "i": "HIERARCH FPA.FILTER",
            "z": "FILTER", "y": "HIERARCH FPA.FILTER"}
    # misleading names: the reader must not look at them
    return {b: _band_file(tmp_path / f"{'yzirg'['grizy'.index(b)]}.fits", b, keys[b],
                          zp=b != "z") for b in "grizy"}


def test_any_file_order_gives_g_r_i_z_y_on_one_zero_point(files):
    expected = np.arange(1, 6, dtype=np.float32)[:, None, None] * np.ones((5, 6, 7))
    for order in itertools.permutations("grizy"):
        cube = read_ps1_cutouts([files[b] for b in order])
        assert cube.shape == (5, 6, 7) and cube.dtype == np.float32
        np.testing.assert_allclose(cube, expected, rtol=1e-5)  # z: ZP from EXPTIME alone


def test_a_listing_in_any_order_gives_g_r_i_z_y(files):
    for order in ("yzirg", "rgyzi", "izgyr"):
        rows = parse_listing(listing_text(150.0, 2.0, order).encode())
        assert "".join(b for b, _ in rows) == order
        assert all(f"stk.{b}.unconv.fits" in name for b, name in rows)
        cube = read_ps1_cutouts([files[b] for b, _ in rows])
        assert cube[:, 0, 0].tolist() == pytest.approx([1, 2, 3, 4, 5], rel=1e-5)


def test_missing_or_repeated_band_is_named(files):
    with pytest.raises(ValueError, match=r"missing PS1 band\(s\) y\b"):
        read_ps1_cutouts([files[b] for b in "gizr"])
    with pytest.raises(ValueError, match="missing PS1 band\\(s\\) g, z"):
        read_ps1_cutouts([files[b] for b in "ryi"])
    with pytest.raises(ValueError, match="band r given twice"):
        read_ps1_cutouts([files[b] for b in "grrizy"])


def test_listing_parser_rejects_pages_and_cut_bodies():
    text = listing_text(10.0, -5.0, "grizy")
    assert len(parse_listing(text.encode())) == 5
    assert parse_listing(text.splitlines()[0].encode() + b"\n") == []  # no stack there
    for body, reason in ((b"<!DOCTYPE html><html>busy</html>\n", "html_page"),
                         (text[: len(text) // 2].encode(), "bad_listing"),
                         (b"ra dec\n1 2\n", "bad_listing")):
        with pytest.raises(Rejected, match=reason) as err:
            parse_listing(body)
        assert not err.value.permanent


def test_mock_psf_and_depth_settings(tmp_path):
    from galstar.mock import build_mock_archive
    from galstar.mock.ps1_images import MockPs1Service, Ps1MockSettings
    from galstar.simulate.ps1_imaging import ps1_pixel_sigma

    build_mock_archive(tmp_path / "mock", 20, 10, 10, 3)
    base = MockPs1Service(tmp_path / "mock")
    other = MockPs1Service(tmp_path / "mock", psf_fwhm_scale=1.2, depth_offset_mag=1.0)
    assert base.sigma == pytest.approx(ps1_pixel_sigma())
    assert other.sigma == pytest.approx(ps1_pixel_sigma() / 10**0.4)
    fwhm = base.psf(150.0, 2.0)
    assert (0.9 <= fwhm).all() and (fwhm <= 1.6).all() and fwhm[0] > fwhm[-1]  # g > y
    assert other.psf(150.0, 2.0) == pytest.approx(np.clip(fwhm * 1.2, 0.9, 1.6), abs=0.006)
    with pytest.raises(ValueError, match="mock.panstarrs.psf_fwhm"):
        Ps1MockSettings.from_options(psf_fwhm=1.0)

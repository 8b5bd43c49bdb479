"""The simulated universe: population physics, photometry, sky geometry and rendering."""

from __future__ import annotations

import numpy as np
import pytest

galsim = pytest.importorskip("galsim")

from galstar.mock import sweeps  # noqa: E402  (sweep file names are the mock's)
from galstar.simulate import population as pop  # noqa: E402
from galstar.simulate import sky  # noqa: E402
from galstar.simulate.photometry import (  # noqa: E402
    mag_to_nmgy,
    moffat_isophote_radius,
    pixel_sigma_from_depth,
    sersic_b,
    sersic_enclosed_fraction,
    sersic_isophote_radius,
)
from galstar.simulate.render import RenderSettings, Stamps, render_scene  # noqa: E402


@pytest.fixture(scope="module")
def spec_sample() -> object:
    return pop.draw_spectroscopic_galaxies(4000, np.random.default_rng(7))


def test_spectroscopic_sample_ranges_and_selection(spec_sample):
    g = spec_sample
    assert len(g) == 4000
    assert (g["z"] > 0).all() and (g["z"] <= 0.35).all()
    assert g["logm"].between(7.5, 11.5).all()
    assert g["logssfr"].between(-13.5, -8.0).all()
    assert (g["mag_r"] < 17.77).all()
    # SDSS-main-like redshifts: median ~0.08-0.1, a tail past 0.15
    assert 0.06 < g["z"].median() < 0.12
    assert (g["z"] > 0.15).mean() > 0.03
    hist, edges = np.histogram(g["z"], bins=np.arange(0, 0.36, 0.025))
    assert 0.04 <= edges[np.argmax(hist)] <= 0.11
    # fibre labels are inside the published label ranges' neighbourhood
    assert g["fib_frac"].between(0, 1).all()
    assert (g["lgm_fib_true"] <= g["logm"] + 0.06).all()


def test_ssfr_bimodal_and_quenching_rises_with_mass(spec_sample):
    g = spec_sample
    hist, edges = np.histogram(g["logssfr"], bins=np.arange(-13.5, -7.9, 0.25))
    centres = 0.5 * (edges[1:] + edges[:-1])
    sf_peak = hist[centres > -10.6].max()
    q_peak = hist[centres < -11.2].max()
    valley = hist[(centres > -11.2) & (centres < -10.6)].min()
    assert valley < 0.5 * min(sf_peak, q_peak)  # two populations, a green valley
    low, high = g[g["logm"] < 10.0], g[g["logm"] > 10.8]
    assert high["quiescent"].mean() > low["quiescent"].mean() + 0.3


def test_profiles_colours_and_sizes_follow_star_formation(spec_sample):
    g = spec_sample
    fixed = g[g["logm"].between(10.3, 10.8)]
    q, sf = fixed[fixed["quiescent"]], fixed[~fixed["quiescent"]]
    assert len(q) > 100 and len(sf) > 100
    assert q["sersic_n"].median() >= 3.0 and sf["sersic_n"].median() <= 1.5
    assert q["g_r_rest"].median() > sf["g_r_rest"].median() + 0.15
    assert (q["mag_g"] - q["mag_r"]).median() > (sf["mag_g"] - sf["mag_r"]).median() + 0.15
    # mass-size relations: positive, steeper for quiescent galaxies
    slopes = {}
    for name, sub in (("q", g[g["quiescent"]]), ("sf", g[~g["quiescent"]])):
        slopes[name] = np.polyfit(sub["logm"], np.log10(sub["r_e_kpc"]), 1)[0]
    assert 0.1 < slopes["sf"] < 0.4
    assert slopes["q"] > slopes["sf"] + 0.15
    # Sersic indices live on the renderer's grid
    assert np.isin(g["sersic_n"].round(2), pop.SERSIC_GRID).all()


def test_mpajhu_estimates_scatter_and_pdf_order(spec_sample):
    g = spec_sample.iloc[:2000]
    est = pop.mpajhu_estimates(g, np.random.default_rng(3))
    resid = est["lgm_fib_p50"] - g["lgm_fib_true"].clip(7.5, 11.5)
    assert 0.05 < resid.std() < 0.12
    for prefix in ("lgm_fib", "specsfr_fib", "sfr_tot", "lgm_tot"):
        q = est[[f"{prefix}_p2p5", f"{prefix}_p16", f"{prefix}_p50", f"{prefix}_p84",
                 f"{prefix}_p97p5"]].to_numpy()
        assert (np.diff(q, axis=1) > 0).all()
    assert est["specsfr_fib_p50"].between(-13.5, -8.0).all()
    # quiescent galaxies have broader sSFR posteriors (upper limits in MPA-JHU)
    width = est["specsfr_fib_p84"] - est["specsfr_fib_p16"]
    assert width[g["quiescent"].to_numpy()].median() > 1.5 * width[~g["quiescent"].to_numpy()
                                                                  ].median()


def test_photometry_conventions():
    assert mag_to_nmgy(22.5) == pytest.approx(1.0)
    # 5-sigma depth r = 23.4 at 1.3" FWHM on 0.262" pixels
    sig = pixel_sigma_from_depth(23.4, 1.3, 0.262)
    sigma_psf_px = 1.3 / 2.3548 / 0.262
    assert sig * np.sqrt(4 * np.pi * sigma_psf_px**2) * 5 == pytest.approx(mag_to_nmgy(23.4),
                                                                       rel=1e-4)
    for n in (0.5, 1.0, 4.0):
        assert sersic_enclosed_fraction(2.0, 2.0, n) == pytest.approx(0.5, abs=1e-9)
    assert float(sersic_b(1.0)) == pytest.approx(1.678, abs=1e-3)
    # surface brightness at the isophote radius equals the level
    flux, r_e, n, level = 300.0, 2.0, 1.0, 1.0
    r_iso = float(sersic_isophote_radius(np.array([flux]), np.array([r_e]), np.array([n]),
                                         level)[0])
    prof = galsim.Sersic(n=n, half_light_radius=r_e, flux=flux)
    assert prof.xValue(galsim.PositionD(r_iso, 0.0)) == pytest.approx(level, rel=1e-3)
    r_star = float(moffat_isophote_radius(np.array([50.0]), 1.3, 3.5, level)[0])
    star = galsim.Moffat(beta=3.5, fwhm=1.3, flux=50.0)
    assert star.xValue(galsim.PositionD(r_star, 0.0)) == pytest.approx(level, rel=1e-3)


def test_tangent_projection_round_trip_and_astropy_agreement():
    from astropy.wcs import WCS

    rng = np.random.default_rng(0)
    ra = 160.0 + rng.uniform(-0.8, 0.8, 50)
    dec = 32.375 + rng.uniform(-0.8, 0.8, 50)
    xi, eta = sky.radec_to_tangent(ra, dec, 160.1, 32.3)
    ra2, dec2 = sky.tangent_to_radec(xi, eta, 160.1, 32.3)
    assert np.allclose(ra2, ra, atol=1e-10) and np.allclose(dec2, dec, atol=1e-10)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [160.1, 32.3]
    w.wcs.crpix = [76.5, 76.5]
    s = 0.262 / 3600.0
    w.wcs.cd = [[-s, 0.0], [0.0, s]]
    x, y = w.all_world2pix(ra, dec, 1)
    assert np.allclose(x, 76.5 - xi / s, atol=1e-6)
    assert np.allclose(y, 76.5 + eta / s, atol=1e-6)


def test_bricks_and_sweep_names():
    bid, names = sky.brick_of(np.array([160.01, 160.02, 159.0, 160.01]),
                              np.array([32.30, 32.31, 32.30, 32.60]))
    assert bid[0] == bid[1] and len(set(bid[[0, 2, 3]])) == 3
    assert all(len(nm) == 8 and nm[4] == "p" for nm in names)
    assert sweeps.sweep_name(sweeps.sweep_box(159.5, 32.4)) == "sweep-150p030-160p035.fits"
    assert sweeps.sweep_name(sweeps.sweep_box(5.0, -2.0)) == "sweep-000m005-010p000.fits"


def test_isophote_overlap_definition():
    # three round sources on a line: A-B overlap (3 < 2 + 1.5), C is far and isolated
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [20.0, 0.0]])
    iso = np.array([2.0, 1.5, 1.0])
    q = np.ones(3)
    pa = np.zeros(3)
    blend, n_over, nb = sky.overlapping_isophotes(xy, iso, q, pa, np.arange(3))
    assert blend.tolist() == [True, True, False]
    assert n_over.tolist() == [1, 1, 0] and nb.tolist() == [1, 0, -1]
    # elongation matters: a thin ellipse along x reaches B, along y it does not
    iso2 = np.array([2.5, 0.5, 1.0])
    q2 = np.array([0.3, 1.0, 1.0])
    along_x = sky.overlapping_isophotes(xy, iso2, q2, np.array([90.0, 0, 0]), np.arange(1))
    along_y = sky.overlapping_isophotes(xy, iso2, q2, np.array([0.0, 0, 0]), np.arange(1))
    assert along_x[0][0] and not along_y[0][0]


def test_poisson_disk_separation():
    pts = sky.poisson_disk(300, np.random.default_rng(1), 500.0, 15.0)
    from scipy.spatial import cKDTree

    d, _ = cKDTree(pts).query(pts, k=2)
    assert len(pts) == 300 and d[:, 1].min() >= 15.0
    with pytest.raises(ValueError, match="min_target_separation_arcsec"):
        sky.poisson_disk(10000, np.random.default_rng(1), 100.0, 15.0)


@pytest.mark.parametrize(
    "n, r_e, q, beta, x, y",
    [(1.0, 2.0, 0.5, 30.0, 70.3, 80.6), (4.0, 1.5, 0.8, 100.0, 76.5, 76.5),
     (2.5, 4.0, 0.3, -20.0, 140.2, 10.9)],
)
def test_kspace_renderer_matches_direct_galsim(n, r_e, q, beta, x, y):
    """The renderer's k-space convolution equals GalSim's own drawImage."""
    settings = RenderSettings()
    fluxes = np.array([100.0, 200.0, 300.0])
    stamps = Stamps(np.array([x]), np.array([y]), fluxes[None, :], np.array([r_e]),
                    np.array([n]), np.array([q]), np.array([beta]), np.array([False]))
    fwhm = np.array([1.4, 1.3, 1.2])
    img = render_scene(stamps, 152, 0.262, fwhm, np.array([0.01, 0.01, 0.03]), settings)
    gsp = settings.gsparams()
    for b in range(3):
        prof = galsim.Sersic(n=n, half_light_radius=r_e, trunc=5 * r_e,
                             flux_untruncated=False, gsparams=gsp)
        prof = prof.shear(q=q, beta=beta * galsim.degrees).withFlux(fluxes[b])
        ref = galsim.ImageD(152, 152, scale=0.262)
        galsim.Convolve(prof, galsim.Moffat(beta=3.5, fwhm=fwhm[b], gsparams=gsp)).drawImage(
            image=ref, center=galsim.PositionD(x, y), method="no_pixel")
        assert np.abs(img[b] - ref.array).max() < 1e-3 * ref.array.max()
        assert img[b].sum() == pytest.approx(ref.array.sum(), rel=1e-3)


def test_point_sources_and_skipping():
    settings = RenderSettings()
    stamps = Stamps(np.array([40.2, 120.0, 76.0]), np.array([50.7, 100.0, -500.0]),
                    np.array([[10.0, 20.0, 30.0], [1e-6, 1e-6, 1e-6], [1e4, 1e4, 1e4]]),
                    np.zeros(3), np.zeros(3), np.ones(3), np.zeros(3), np.ones(3, bool))
    img = render_scene(stamps, 152, 0.262, np.array([1.3, 1.3, 1.3]),
                       np.array([0.007, 0.012, 0.027]), settings)
    # the bright star: whole flux inside (its stamp is far from the edges)
    assert img.sum(axis=(1, 2)) == pytest.approx([10.0, 20.0, 30.0], rel=2e-3)
    peak = np.unravel_index(np.argmax(img[1]), img[1].shape)
    assert peak == (50, 39)  # row = y - 1, column = x - 1 (nearest pixel centre)


def test_isophote_overlap_flux_ratio():
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.5], [20.0, 0.0]])
    iso = np.array([2.0, 1.5, 2.0, 1.0])
    flux = np.array([100.0, 10.0, 5.0, 50.0])
    blend, n_over, _, ratio = sky.overlapping_isophotes(xy, iso, np.ones(4), np.zeros(4),
                                                        np.array([0, 3]), flux=flux)
    assert blend.tolist() == [True, False] and n_over.tolist() == [2, 0]
    assert ratio.tolist() == pytest.approx([0.15, 0.0])

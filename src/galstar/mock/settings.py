"""Settings of the mock archive (config ``mock.options``) and their validation.

Import-light (no simulator, no file formats), so that the config check can validate
``mock.options`` at parse time with :func:`validate_options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from galstar.options import check_option_names

__all__ = ["MockSettings", "validate_options", "option_names"]


@dataclass(frozen=True)
class MockSettings:
    """Everything but the counts and the seed that shapes the mock archive.

    Attributes
    ----------
    patch_center : (float, float)
        (RA, Dec) [deg] of the square patch; the default sits on the RA = 160 sweep
        boundary and on the DR9 north/south boundary (Dec 32.375).
    density_per_deg2 : float
        Mean source density; sets the patch area. 12,000 / deg^2 puts ~1.5 neighbours
        in a 40 arcsec cutout.
    north_south_overlap_deg : float
        Sources within this distance of Dec 32.375 are catalogued by both regions.
    min_target_separation_arcsec : float
        Spectroscopic objects are at least this far apart (fibre collisions).
    exclusion_arcsec : float
        No other source is placed this close to a spectroscopic object, so the true
        counterpart is the only DR9 source within a 3 arcsec match radius.
    companion_fraction : float
        Fraction of spectroscopic galaxies given a physical companion overlapping
        their isophote (more blends arise from chance alignments).
    companion_max_sep_arcsec : float
        Companions are at most this far from their host.
    repeat_fraction, unreliable_fraction, z_warning_fraction, z_nonpositive_fraction,
    low_sn_fraction, invalid_mass_fraction : float
        Per-row rates of each MPA-JHU defect (independent, so some rows have several).
    no_dr9_fraction : float
        Spectroscopic galaxies absent from DR9 (masked region).
    spec_star_fraction, qso_fraction : float
        Stars and quasars with an MPA-JHU row, relative to ``n_galaxies``.
    bright_star_fraction : float
        Fraction of stars with r in 9.5-13.
    depth_mag : dict
        DR9-like 5-sigma point-source depths [AB] per band.
    depth_psf_fwhm_arcsec : float
        PSF FWHM the depths refer to (sets the per-pixel noise).
    psf_fwhm_range_arcsec : (float, float)
        Per-brick, per-band effective PSF FWHM range.
    psf_beta : float
        Moffat beta.
    sersic_trunc : float
        Sersic truncation radius in half-light radii.
    blend_isophote_nmgy_arcsec2 : float
        Surface brightness (grz summed) of the isophote that defines a blend.
    mpajhu_position_sigma_arcsec, dr9_position_sigma_arcsec : float
        Per-axis astrometric scatter of each catalogue around the true position.
    pixscale_arcsec : float
        Native pixel scale, for the per-pixel noise.
    """

    patch_center: tuple[float, float] = (160.0, 32.375)
    density_per_deg2: float = 12000.0
    north_south_overlap_deg: float = 0.1
    min_target_separation_arcsec: float = 15.0
    exclusion_arcsec: float = 3.5
    companion_fraction: float = 0.05
    companion_max_sep_arcsec: float = 11.0
    repeat_fraction: float = 0.04
    unreliable_fraction: float = 0.02
    z_warning_fraction: float = 0.02
    z_nonpositive_fraction: float = 0.005
    low_sn_fraction: float = 0.04
    invalid_mass_fraction: float = 0.02
    no_dr9_fraction: float = 0.02
    spec_star_fraction: float = 0.015
    qso_fraction: float = 0.01
    bright_star_fraction: float = 0.03
    depth_mag: dict = field(default_factory=lambda: {"g": 24.0, "r": 23.4, "z": 22.5})
    depth_psf_fwhm_arcsec: float = 1.3
    psf_fwhm_range_arcsec: tuple[float, float] = (1.1, 1.6)
    psf_beta: float = 3.5
    sersic_trunc: float = 5.0
    blend_isophote_nmgy_arcsec2: float = 1.0
    mpajhu_position_sigma_arcsec: float = 0.15
    dr9_position_sigma_arcsec: float = 0.06
    pixscale_arcsec: float = 0.262

    @classmethod
    def from_options(cls, **opts: Any) -> MockSettings:
        """Build from keyword options (config ``mock.options``).

        Raises
        ------
        ValueError
            For an unknown key (named as ``mock.options.<key>``), or a PSF range or
            depth table the mock cannot use.
        """
        check_option_names(opts, cls, "mock.options")
        for key in ("patch_center", "psf_fwhm_range_arcsec"):
            if key in opts:
                opts[key] = tuple(float(v) for v in opts[key])
        settings = cls(**opts)
        lo, hi = settings.psf_fwhm_range_arcsec
        if not 0 < lo <= hi:
            raise ValueError("mock.options.psf_fwhm_range_arcsec: must be 0 < lo <= hi, "
                             f"got {lo, hi}")
        if set(settings.depth_mag) != {"g", "r", "z"}:
            raise ValueError(f"mock.options.depth_mag: needs g, r, z, got {settings.depth_mag}")
        return settings

    def pixel_sigma(self) -> dict[str, float]:
        """Per-pixel noise sigma [nmgy] per band, from the depths."""
        from galstar.simulate.photometry import pixel_sigma_from_depth

        return {
            b: pixel_sigma_from_depth(d, self.depth_psf_fwhm_arcsec, self.pixscale_arcsec)
            for b, d in self.depth_mag.items()
        }


def option_names() -> set[str]:
    """The keys ``mock.options`` accepts (the :class:`MockSettings` fields)."""
    return {f.name for f in fields(MockSettings)}


def validate_options(options: Mapping[str, Any] | None) -> MockSettings:
    """Check a ``mock.options`` mapping without building (or writing) anything.

    Parameters
    ----------
    options : mapping or None
        The config's ``mock.options`` (None or empty: the defaults).

    Returns
    -------
    MockSettings
        The settings the options describe.

    Raises
    ------
    ValueError
        For an unknown key (the message names ``mock.options.<key>``) or a bad value.
    """
    return MockSettings.from_options(**dict(options or {}))

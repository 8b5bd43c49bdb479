"""Settings of the stellar mock archive (a future config ``stellar.mock.options``).

Import-light (no simulator, no file formats), so a config check can validate the
options at parse time with :func:`validate_stellar_options`. :data:`DEMO_OPTIONS` is the
cheap demo: three VIS orders (two overlapping) and one NIR order, the grid generated
only where those orders need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from galstar.options import check_option_names

__all__ = ["StellarMockSettings", "DEMO_OPTIONS", "validate_stellar_options",
           "stellar_option_names"]

#: The demo's orders: VIS 30-31 (TiO 7055/7088/7126 heads, overlapping), VIS 45 (Na I
#: 8185/8197 doublet, gravity), NIR 12 (K I 12435/12525, FeH). ~0.3 GB of files.
DEMO_OPTIONS: dict[str, Any] = {"vis_orders": [30, 31, 45], "nir_orders": [12]}


@dataclass(frozen=True)
class StellarMockSettings:
    """Everything but the star count and the seed that shapes the stellar mock.

    Attributes
    ----------
    vis_orders, nir_orders : list of int or None
        Orders written per arm (indices into the full 61 VIS / 28 NIR orders; None:
        all, the real 61 x 4096 and 28 x 4080 shapes). A subset makes a smaller
        archive whose files have fewer rows; readers' shape filters must then expect
        ``(len(vis_orders), 4096)`` and ``(2 * len(nir_orders), 2040)``.
    grid_coverage : {"orders", "full"}
        ``orders``: model spectra only where the written orders need them (their
        rest-frame range for any RV and BERV drawn, plus broadening margins);
        ``full``: ``grid_range_a``.
    grid_range_a : (float, float)
        Model wavelength range [A] for ``full`` (0.5-1.75 um).
    native_resolving_power : float
        Model sampling lambda / dlambda per pixel (Lyon BT-Settl: ~300,000-350,000).
    grid_subset : list of [Teff, log g, [M/H]] or None
        Write only these grid nodes (tests, quick looks); None: all 368.
    grid_compress : bool
        Write ``.spec.7.bz2`` (as the Lyon server does) instead of plain ``.spec.7``.
    grid_shuffled_blocks : int
        Row blocks of each grid file written out of order (real files are not always
        sorted by wavelength).
    grid_duplicate_rows : int
        Rows written twice per grid file (duplicate wavelengths, as in real files).
    line_list_seed : int
        Seed of the fixed line list shared by grid and stars.
    gap_scale, gap_line_depth_dex, gap_line_shift_kms, gap_missing_fraction,
    gap_band_scale, gap_continuum_slope, gap_continuum_slope_sigma
        The synthetic gap between grid and observed stars
        (:class:`galstar.simulate.stellar_spectra.SyntheticGap`); ``gap_scale: 0``
        makes the stars' physics identical to the grid's.
    outside_grid_fraction : float
        Stars placed just outside the grid in one parameter.
    slow_rotator_fraction : float
        Stars with v sin i in 1.5-3 km/s (the rest: 3-30 km/s).
    snr_median, snr_sigma_dex : float
        Median and log-scatter of the stars' best-order S/N per pixel.
    rv_sigma_kms : float
        Scatter of the stars' radial velocities.
    telluric_gap_below : float
        Pixels whose telluric transmission is below this are NaN (telluric gaps).
    cosmics_per_order, bad_columns_per_order : float
        Mean cosmetic defects per order.
    nan_order_fraction : float
        Stars (per arm) with one order entirely NaN.
    wrong_shape_fraction : float
        Stars with one arm written with a wrong shape (an order missing, or pixels
        cropped), as the thesis found in the archive.
    label_teff_sigma_k, label_logg_sigma, label_mh_sigma : float
        Scatter of the literature labels around the truth.
    label_sentinel_fraction, label_missing_fraction : float
        Label rows with one value -9999 / empty.
    unlabelled_fraction : float
        Observed stars without a label row.
    extra_label_fraction : float
        Label rows (relative to the star count) for stars not observed.
    """

    vis_orders: list | None = None
    nir_orders: list | None = None
    grid_coverage: str = "orders"
    grid_range_a: tuple[float, float] = (5000.0, 17500.0)
    native_resolving_power: float = 300_000.0
    grid_subset: list | None = None
    grid_compress: bool = False
    grid_shuffled_blocks: int = 3
    grid_duplicate_rows: int = 4
    line_list_seed: int = 20250611
    gap_scale: float = 1.0
    gap_line_depth_dex: float = 0.08
    gap_line_shift_kms: float = 0.15
    gap_missing_fraction: float = 0.04
    gap_band_scale: dict = field(default_factory=lambda: {"TiO": 1.15, "VO": 0.9,
                                                          "FeH": 1.1, "H2O": 0.85})
    gap_continuum_slope: float = 0.3
    gap_continuum_slope_sigma: float = 0.2
    outside_grid_fraction: float = 0.03
    slow_rotator_fraction: float = 0.8
    snr_median: float = 90.0
    snr_sigma_dex: float = 0.25
    rv_sigma_kms: float = 25.0
    telluric_gap_below: float = 0.02
    cosmics_per_order: float = 1.5
    bad_columns_per_order: float = 0.3
    nan_order_fraction: float = 0.02
    wrong_shape_fraction: float = 0.04
    label_teff_sigma_k: float = 40.0
    label_logg_sigma: float = 0.05
    label_mh_sigma: float = 0.10
    label_sentinel_fraction: float = 0.03
    label_missing_fraction: float = 0.03
    unlabelled_fraction: float = 0.02
    extra_label_fraction: float = 0.02

    @classmethod
    def from_options(cls, **opts: Any) -> StellarMockSettings:
        """Build from keyword options.

        Raises
        ------
        ValueError
            For an unknown key (named as ``stellar.mock.options.<key>``) or a value the
            mock cannot use (the message names the key).
        """
        check_option_names(opts, cls, "stellar.mock.options")
        if "grid_range_a" in opts:
            opts["grid_range_a"] = tuple(float(v) for v in opts["grid_range_a"])
        for key in ("vis_orders", "nir_orders"):
            if opts.get(key) is not None:
                opts[key] = sorted({int(v) for v in opts[key]})
        if opts.get("grid_subset") is not None:
            opts["grid_subset"] = [[float(v) for v in node] for node in opts["grid_subset"]]
            if not opts["grid_subset"] or any(len(n) != 3 for n in opts["grid_subset"]):
                raise ValueError("stellar.mock.options.grid_subset must list [Teff, logg, MH] "
                                 f"nodes, got {opts['grid_subset']}")
        s = cls(**opts)
        limits = {"vis_orders": 61, "nir_orders": 28}
        for key, n in limits.items():
            value = getattr(s, key)
            if value is not None and (not value or min(value) < 0 or max(value) >= n):
                raise ValueError(f"stellar.mock.options.{key} must list orders in 0..{n - 1}, "
                                 f"got {value}")
        if s.grid_coverage not in ("orders", "full"):
            raise ValueError("stellar.mock.options.grid_coverage must be 'orders' or 'full', "
                             f"got {s.grid_coverage!r}")
        lo, hi = s.grid_range_a
        if not 0 < lo < hi:
            raise ValueError(f"stellar.mock.options.grid_range_a must be 0 < lo < hi: {lo, hi}")
        if s.native_resolving_power < 300_000:
            raise ValueError("stellar.mock.options.native_resolving_power must be >= 300000 "
                             f"(BT-Settl-like), got {s.native_resolving_power}")
        for f in fields(cls):
            if f.name.endswith("_fraction"):
                v = getattr(s, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"stellar.mock.options.{f.name} must be in [0, 1], got {v}")
        if s.snr_median <= 0:
            raise ValueError(f"stellar.mock.options.snr_median must be > 0, got {s.snr_median}")
        return s

    def gap(self) -> dict[str, Any]:
        """The synthetic-gap fields as ``SyntheticGap`` keyword arguments."""
        return {"scale": self.gap_scale, "line_depth_dex": self.gap_line_depth_dex,
                "line_shift_kms": self.gap_line_shift_kms,
                "missing_fraction": self.gap_missing_fraction,
                "band_scale": dict(self.gap_band_scale),
                "continuum_slope": self.gap_continuum_slope,
                "continuum_slope_sigma": self.gap_continuum_slope_sigma}


def stellar_option_names() -> set[str]:
    """The option keys :class:`StellarMockSettings` accepts."""
    return {f.name for f in fields(StellarMockSettings)}


def validate_stellar_options(options: Mapping[str, Any] | None) -> StellarMockSettings:
    """Check stellar mock options without building anything (None: the defaults)."""
    return StellarMockSettings.from_options(**dict(options or {}))

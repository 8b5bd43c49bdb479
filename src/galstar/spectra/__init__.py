"""Stellar spectra: CARMENES and BT-Settl readers, stitching, normalisation, degradation.

The public API of issue 12's preprocessing: :func:`read_carmenes` (echelle orders),
:func:`read_btsettl` (a synthetic spectrum), the order-shape filter, :func:`stitch`,
flux-conserving resampling onto one grid per arm, :func:`normalise` (three passes of
Savitzky-Golay smoothing chosen by BIC, continuum and baseline removal),
:func:`degrade` (Gaussian blur to resolving power R) and the grid-side helpers, and
:func:`read_labels` for literature labels. Wavelengths are in Angstrom throughout.
SDSS galaxy spectra (issue 13): :func:`read_spectrum`, :func:`to_grid` and the shard
function :func:`preprocess_sdss_files` (modules sdss, sdss_grid, sdss_shard).
"""

from __future__ import annotations

from galstar.lazy import lazy_exports

# Names -> the submodule that defines them, imported on first use (galstar.lazy).
_EXPORTS: dict[str, str] = {
    "read_btsettl": "galstar.spectra.btsettl",
    "read_carmenes": "galstar.spectra.carmenes",
    "EchelleSpectrum": "galstar.spectra.echelle",
    "split_detector_gap": "galstar.spectra.echelle",
    "Rejected": "galstar.spectra.errors",
    "RejectRecord": "galstar.spectra.errors",
    "SpectrumFormatError": "galstar.spectra.errors",
    "RESOLVING_POWER": "galstar.spectra.grid",
    "GridSpectrum": "galstar.spectra.grid",
    "add_noise": "galstar.spectra.grid",
    "degrade_to_grid": "galstar.spectra.grid",
    "prepare_grid_spectrum": "galstar.spectra.grid",
    "rv_shift": "galstar.spectra.grid",
    "truncate": "galstar.spectra.grid",
    "Labels": "galstar.spectra.labels",
    "LabelSettings": "galstar.spectra.labels",
    "read_labels": "galstar.spectra.labels",
    "Normalised": "galstar.spectra.normalise",
    "NormaliseSettings": "galstar.spectra.normalise",
    "normalise": "galstar.spectra.normalise",
    "ObservedSettings": "galstar.spectra.observed",
    "PreparedArm": "galstar.spectra.observed",
    "preprocess_observed": "galstar.spectra.observed",
    "DEFAULT_GRIDS": "galstar.spectra.resample",
    "ArmGrid": "galstar.spectra.resample",
    "fill_masked": "galstar.spectra.resample",
    "resample_flux": "galstar.spectra.resample",
    "resample_to_grid": "galstar.spectra.resample",
    "degrade": "galstar.spectra.resolution",
    "degrade_log": "galstar.spectra.resolution",
    "Spectrum": "galstar.spectra.sdss",
    "read_spectrum": "galstar.spectra.sdss",
    "SdssGridSettings": "galstar.spectra.sdss_grid",
    "SpectrumGrid": "galstar.spectra.sdss_grid",
    "to_grid": "galstar.spectra.sdss_grid",
    "SdssShard": "galstar.spectra.sdss_shard",
    "preprocess_sdss_files": "galstar.spectra.sdss_shard",
    "ShapeSettings": "galstar.spectra.shapes",
    "check_shape": "galstar.spectra.shapes",
    "filter_shapes": "galstar.spectra.shapes",
    "Gap": "galstar.spectra.stitch",
    "Stitched": "galstar.spectra.stitch",
    "StitchSettings": "galstar.spectra.stitch",
    "stitch": "galstar.spectra.stitch",
}

__all__ = sorted(_EXPORTS)

# These two share their module's name: imported here, the function (not the module that
# importing the submodule would bind) is what `from galstar.spectra import stitch` gives.
from galstar.spectra.normalise import normalise  # noqa: E402, F401
from galstar.spectra.stitch import stitch  # noqa: E402, F401

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

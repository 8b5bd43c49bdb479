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

from galstar.spectra.btsettl import read_btsettl
from galstar.spectra.carmenes import read_carmenes
from galstar.spectra.echelle import EchelleSpectrum, split_detector_gap
from galstar.spectra.errors import Rejected, RejectRecord, SpectrumFormatError
from galstar.spectra.grid import (
    RESOLVING_POWER,
    GridSpectrum,
    add_noise,
    degrade_to_grid,
    prepare_grid_spectrum,
    rv_shift,
    truncate,
)
from galstar.spectra.labels import Labels, LabelSettings, read_labels
from galstar.spectra.normalise import Normalised, NormaliseSettings, normalise
from galstar.spectra.observed import ObservedSettings, PreparedArm, preprocess_observed
from galstar.spectra.resample import (
    DEFAULT_GRIDS,
    ArmGrid,
    fill_masked,
    resample_flux,
    resample_to_grid,
)
from galstar.spectra.resolution import degrade, degrade_log
from galstar.spectra.sdss import Spectrum, read_spectrum  # SDSS galaxy spectra (issue 13)
from galstar.spectra.sdss_grid import SdssGridSettings, SpectrumGrid, to_grid
from galstar.spectra.sdss_shard import SdssShard, preprocess_sdss_files
from galstar.spectra.shapes import ShapeSettings, check_shape, filter_shapes
from galstar.spectra.stitch import Gap, Stitched, StitchSettings, stitch

__all__ = [
    "DEFAULT_GRIDS",
    "RESOLVING_POWER",
    "ArmGrid",
    "EchelleSpectrum",
    "Gap",
    "GridSpectrum",
    "LabelSettings",
    "Labels",
    "NormaliseSettings",
    "Normalised",
    "ObservedSettings",
    "PreparedArm",
    "RejectRecord",
    "Rejected",
    "ShapeSettings",
    "SpectrumFormatError",
    "StitchSettings",
    "Stitched",
    "add_noise",
    "check_shape",
    "degrade",
    "degrade_log",
    "degrade_to_grid",
    "fill_masked",
    "filter_shapes",
    "normalise",
    "prepare_grid_spectrum",
    "preprocess_observed",
    "read_btsettl",
    "read_carmenes",
    "read_labels",
    "resample_flux",
    "resample_to_grid",
    "rv_shift",
    "split_detector_gap",
    "stitch",
    "truncate",
]
__all__ += ["SdssGridSettings", "SdssShard", "Spectrum", "SpectrumGrid", "preprocess_sdss_files",
            "read_spectrum", "to_grid"]

"""One observed arm from the file's orders to the model's input vector.

Shape filter -> (barycentric correction) -> order stitching -> flux-conserving
resampling onto the arm grid -> the three normalisation passes. Every refusal is
returned as a reason, never raised, so one bad star costs only itself. Reason codes,
in the order the checks run: ``wrong_shape``, ``no_valid_orders``, ``non_monotonic``,
``discontinuity``, ``gaps`` (stitching), ``grid_coverage`` (too much of the arm grid
filled), ``normalisation``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import constants as const

from galstar.spectra.echelle import EchelleSpectrum
from galstar.spectra.errors import Rejected
from galstar.spectra.normalise import Normalised, NormaliseSettings, normalise
from galstar.spectra.resample import DEFAULT_GRIDS, ArmGrid, Resampled, resample_to_grid
from galstar.spectra.shapes import ShapeSettings, check_shape
from galstar.spectra.stitch import Stitched, StitchSettings, stitch

__all__ = ["ObservedSettings", "PreparedArm", "barycentric", "preprocess_observed"]

_C_KMS = const.c.to_value("km/s")


@dataclass(frozen=True)
class ObservedSettings:
    """Settings of the observed-arm chain.

    Attributes
    ----------
    grids : dict
        Arm -> :class:`~galstar.spectra.resample.ArmGrid`.
    shapes : ShapeSettings
    stitch : StitchSettings
    normalise : NormaliseSettings
        Must equal the synthetic grid's.
    barycentric : bool
        Shift the wavelengths to the solar-system barycentre with the header's BERV
        (``lambda * (1 + BERV / c)``, as SERVAL) before stitching; a file without BERV
        is used as it is.
    max_filled_fraction : float
        Largest fraction of the arm grid that may be gap-filled or outside coverage
        (an opaque 1.40 um water band alone fills ~10% of the NIR grid).
    """

    grids: Mapping[str, ArmGrid] = field(default_factory=lambda: dict(DEFAULT_GRIDS))
    shapes: ShapeSettings = field(default_factory=ShapeSettings)
    stitch: StitchSettings = field(default_factory=StitchSettings)
    normalise: NormaliseSettings = field(default_factory=NormaliseSettings)
    barycentric: bool = True
    max_filled_fraction: float = 0.3


@dataclass(frozen=True)
class PreparedArm:
    """The outcome for one arm of one star.

    Attributes
    ----------
    source, arm, object_id : str
        File, arm and the header's OBJECT.
    reject_reason : str
        ``""`` when kept, else ``"<code>: <detail>"`` (module docstring).
    stitched : Stitched or None
        The stitched spectrum (None if rejected before).
    resampled : Resampled or None
        On the arm grid, before normalisation.
    normalised : Normalised or None
        The model input (``normalised.flux``) and the BIC choices.
    seconds : dict
        Time per step (``shape``, ``stitch``, ``resample``, ``normalise``, ``bic``).
    """

    source: str
    arm: str
    object_id: str
    reject_reason: str = ""
    stitched: Stitched | None = None
    resampled: Resampled | None = None
    normalised: Normalised | None = None
    seconds: dict = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        """True when not rejected."""
        return not self.reject_reason


def barycentric(spec: EchelleSpectrum) -> EchelleSpectrum:
    """The spectrum with wavelengths moved to the barycentre (BERV in km/s)."""
    berv = spec.berv
    if not np.isfinite(berv):
        return spec
    return replace(spec, wavelength=spec.wavelength * (1.0 + berv / _C_KMS),
                   notes=spec.notes + (f"barycentric correction, BERV {berv:.3f} km/s",))


def preprocess_observed(spec: EchelleSpectrum,
                        settings: ObservedSettings = ObservedSettings()) -> PreparedArm:
    """Run the observed-arm chain on one spectrum.

    Parameters
    ----------
    spec : EchelleSpectrum
        As read by :func:`~galstar.spectra.carmenes.read_carmenes`.
    settings : ObservedSettings

    Returns
    -------
    PreparedArm
        Kept (``reject_reason == ""``) with the model input, or rejected with why.
    """
    seconds: dict[str, float] = {}
    base = dict(source=spec.path, arm=spec.arm, object_id=spec.object_id, seconds=seconds)
    t0 = time.perf_counter()
    reason = check_shape(spec, settings.shapes)
    seconds["shape"] = time.perf_counter() - t0
    if reason:
        return PreparedArm(reject_reason=reason, **base)
    if spec.arm not in settings.grids:
        return PreparedArm(reject_reason=f"grid_coverage: no grid configured for arm "
                           f"{spec.arm!r}", **base)
    t0 = time.perf_counter()
    try:
        stitched = stitch(barycentric(spec) if settings.barycentric else spec,
                          settings.stitch)
    except Rejected as rej:
        seconds["stitch"] = time.perf_counter() - t0
        return PreparedArm(reject_reason=rej.reason, **base)
    seconds["stitch"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    grid = settings.grids[spec.arm].wavelength()
    try:
        resampled = resample_to_grid(stitched.wavelength, stitched.flux, stitched.sigma,
                                     grid, stitched.gaps)
    except ValueError as err:
        return PreparedArm(reject_reason=f"grid_coverage: {err}", stitched=stitched, **base)
    seconds["resample"] = time.perf_counter() - t0
    if resampled.filled_fraction > settings.max_filled_fraction:
        return PreparedArm(
            reject_reason=f"grid_coverage: {100 * resampled.filled_fraction:.1f}% of the "
                          f"{spec.arm} grid in gaps or outside the spectrum (limit "
                          f"{100 * settings.max_filled_fraction:g}%)",
            stitched=stitched, resampled=resampled, **base)
    t0 = time.perf_counter()
    try:
        normalised = normalise(grid, resampled.flux, settings.normalise)
    except ValueError as err:
        return PreparedArm(reject_reason=f"normalisation: {err}", stitched=stitched,
                           resampled=resampled, **base)
    seconds["normalise"] = time.perf_counter() - t0
    seconds["bic"] = normalised.bic_seconds
    return PreparedArm(stitched=stitched, resampled=resampled, normalised=normalised, **base)

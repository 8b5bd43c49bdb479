"""The echelle spectrum container and the CARMENES arm geometry.

An :class:`EchelleSpectrum` holds one exposure of one arm as 2-d arrays (order, pixel)
of wavelength [Angstrom, vacuum], flux, sigma and continuum, with the header facts the
pipeline uses. The NIR arm's 4080-pixel orders span two detectors; they are split into
two 2040-pixel orders at the gap between pixels 2039 and 2040, as SERVAL and raccoon do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = [
    "ARMS",
    "FILE_SHAPES",
    "NIR_DETECTOR_GAP_PX",
    "READ_SHAPES",
    "THESIS_SHAPES",
    "EchelleSpectrum",
    "split_detector_gap",
]

ARMS = ("vis", "nir")
#: Order array shapes as CARACAL writes them.
FILE_SHAPES = {"vis": (61, 4096), "nir": (28, 4080)}
#: Shapes after reading (NIR split at the detector gap): the shape filter's default.
READ_SHAPES = {"vis": (61, 4096), "nir": (56, 2040)}
#: Shapes of the telluric-corrected templates the 2025 thesis kept.
THESIS_SHAPES = {"vis": (61, 3699), "nir": (56, 1999)}
#: First pixel of the second NIR detector (0-based): pixels 0-2039 | 2040-4079.
NIR_DETECTOR_GAP_PX = 2040


@dataclass(frozen=True)
class EchelleSpectrum:
    """One arm of one CARMENES exposure, order by order.

    Attributes
    ----------
    path : str
        File it was read from (named in every error and reject).
    arm : str
        ``"vis"`` or ``"nir"``.
    wavelength : numpy.ndarray
        (n_orders, n_px) float64, Angstrom (vacuum, observatory frame as in the file).
    flux : numpy.ndarray
        (n_orders, n_px) float64, in the file's units (CARACAL: extracted counts, blaze
        not removed; public templates: normalised).
    sigma : numpy.ndarray
        (n_orders, n_px) float64, same units as ``flux``; all NaN when the file's SIG
        is a placeholder (see ``sigma_placeholder``).
    continuum : numpy.ndarray or None
        (n_orders, n_px) float64 blaze/continuum (CONT), or None if the file has none.
    good : numpy.ndarray
        (n_orders, n_px) bool, True where wavelength and flux are finite.
    meta : dict
        Header facts: ``OBJECT``, ``DATE-OBS``, ``MJD-OBS``, ``EXPTIME``, ``RA``,
        ``DEC``, ``BERV`` (km/s), ``BJD`` (None when absent).
    snr : numpy.ndarray
        (n_orders,) FOX S/N per order (NaN where the header has none); a split NIR
        order inherits its parent's value.
    form : str
        ``"caracal"`` (image extensions) or ``"table"`` (BINTABLE columns).
    sigma_placeholder : bool
        True when SIG was missing, constant or non-finite and was replaced by NaN.
    bad_orders : tuple of int
        Orders with no finite flux pixel (masked in ``good``; stitching skips them).
    notes : tuple of str
        What the reader noticed and did (placeholder sigma, split, NaN orders).
    """

    path: str
    arm: str
    wavelength: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    continuum: np.ndarray | None
    good: np.ndarray
    meta: dict = field(default_factory=dict)
    snr: np.ndarray | None = None
    form: str = "caracal"
    sigma_placeholder: bool = False
    bad_orders: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """(n_orders, n_px) of the order arrays."""
        return tuple(self.wavelength.shape)

    @property
    def n_orders(self) -> int:
        """Number of orders."""
        return int(self.wavelength.shape[0])

    @property
    def object_id(self) -> str:
        """The header's OBJECT (a Karmn id such as ``J17578+046``), or ``""``."""
        return str(self.meta.get("OBJECT") or "")

    @property
    def berv(self) -> float:
        """Barycentric Earth radial velocity, km/s (NaN when the header has none)."""
        value = self.meta.get("BERV")
        return float(value) if value is not None else float("nan")


def split_detector_gap(spec: EchelleSpectrum, gap_px: int = NIR_DETECTOR_GAP_PX
                       ) -> EchelleSpectrum:
    """Split every order at the NIR detector gap, doubling the number of orders.

    Parameters
    ----------
    spec : EchelleSpectrum
        A NIR spectrum of (n, 2 * gap_px) orders, e.g. (28, 4080).
    gap_px : int
        First pixel of the second detector.

    Returns
    -------
    EchelleSpectrum
        (2n, gap_px) orders, order 2k = pixels [0, gap_px) of file order k and order
        2k + 1 = pixels [gap_px, 2 gap_px); S/N and bad orders follow.

    Raises
    ------
    ValueError
        If the orders are not ``2 * gap_px`` pixels long.
    """
    n_orders, n_px = spec.shape
    if n_px != 2 * gap_px:
        raise ValueError(f"{spec.path}: cannot split {n_px}-pixel orders at pixel {gap_px}")

    def halves(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a.reshape(n_orders * 2, gap_px)

    bad = np.flatnonzero(~np.any(halves(spec.good), axis=1))
    snr = None if spec.snr is None else np.repeat(spec.snr, 2)
    return replace(
        spec, wavelength=halves(spec.wavelength), flux=halves(spec.flux),
        sigma=halves(spec.sigma), continuum=halves(spec.continuum), good=halves(spec.good),
        snr=snr, bad_orders=tuple(int(b) for b in bad),
        notes=spec.notes + (f"split {n_orders}x{n_px} at pixel {gap_px} into "
                            f"{2 * n_orders}x{gap_px}",),
    )

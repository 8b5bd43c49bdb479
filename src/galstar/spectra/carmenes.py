"""Reader for CARMENES spectra: CARACAL image products and public tabular forms.

CARACAL ``car-<date>-sci-gtoc-{vis,nir}_A.fits``: an empty primary HDU whose header
carries the observation (``OBJECT``, ``MJD-OBS``, ``HIERARCH CARACAL BERV``, one
``HIERARCH CARACAL FOX SNR <n>`` per order, ...) and image extensions ``SPEC``,
``CONT``, ``SIG``, ``WAVE`` [Angstrom, vacuum], one row per order. NIR orders are split
at the detector gap (28 x 4080 -> 56 x 2040). Public derived products come as a
BINTABLE with columns WAVE, SPEC, CONT, SIG (vector columns: one row per order; scalar
columns: one merged spectrum); their SIG is often a placeholder (all 1), which is
detected, replaced by NaN and said in ``notes``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from galstar.spectra.echelle import (
    ARMS,
    FILE_SHAPES,
    NIR_DETECTOR_GAP_PX,
    EchelleSpectrum,
    split_detector_gap,
)
from galstar.spectra.errors import SpectrumFormatError

__all__ = ["read_carmenes"]

REQUIRED_EXTENSIONS = ("SPEC", "WAVE")
META_KEYS = {
    "OBJECT": "OBJECT", "DATE-OBS": "DATE-OBS", "MJD-OBS": "MJD-OBS",
    "EXPTIME": "EXPTIME", "RA": "RA", "DEC": "DEC", "AIRMASS": "AIRMASS",
    "BERV": "HIERARCH CARACAL BERV", "BJD": "HIERARCH CARACAL BJD",
    "SERVAL_REF": "HIERARCH CARACAL SERVAL REF",
}
_TABLE_STRUCTURE = re.compile(r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|T[A-Z]+\d+)$")
_SNR_KEY = re.compile(r"^CARACAL FOX SNR (\d+)$")
# Wavelength that separates the arms (CARMENES VIS 520-960 nm, NIR 960-1710 nm).
_ARM_SPLIT_ANGSTROM = 9600.0


def read_carmenes(path: str | os.PathLike, arm: str | None = None) -> EchelleSpectrum:
    """Read one CARMENES spectrum (CARACAL image extensions or tabular form).

    Parameters
    ----------
    path : str or os.PathLike
        FITS file.
    arm : {"vis", "nir"}, optional
        Arm; by default taken from the file name (``-vis_A`` / ``-nir_A``), then the
        header (``INSTRUME``), then the order count (61: VIS, 28 or 56: NIR), then the
        wavelengths.

    Returns
    -------
    EchelleSpectrum
        Orders with wavelength [Angstrom], flux, sigma, continuum, a ``good`` mask
        (finite wavelength and flux), header metadata, per-order FOX S/N; NIR 4080-px
        orders split into 2040-px orders. All-NaN orders are listed in ``bad_orders``.

    Raises
    ------
    SpectrumFormatError
        Naming the file: not FITS, truncated, no ``WAVE`` or ``SPEC`` (image or
        column), or arrays of different shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFormatError(f"{path}: no such CARMENES file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=False) as hdul:
                hdul.verify("silentfix")
                spec = _read_hdul(hdul, path, arm)
    except SpectrumFormatError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise SpectrumFormatError(f"{path}: cannot read as a CARMENES FITS file "
                                  f"({type(err).__name__}: {err})") from err
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message)]
    if truncated:
        raise SpectrumFormatError(f"{path}: truncated FITS file ({truncated[0]})")
    return spec


def _read_hdul(hdul: fits.HDUList, path: Path, arm: str | None) -> EchelleSpectrum:
    names = [hdu.name.upper() for hdu in hdul]
    primary = hdul[0].header
    if all(name in names for name in REQUIRED_EXTENSIONS):
        arrays = {name: _image(hdul, name, path) for name in ("SPEC", "CONT", "SIG", "WAVE")
                  if name in names}
        form = "caracal"
        header = primary
    else:
        table = next((hdu for hdu in hdul if isinstance(hdu, fits.BinTableHDU)), None)
        if table is None:
            missing = [n for n in REQUIRED_EXTENSIONS if n not in names]
            raise SpectrumFormatError(
                f"{path}: no {' or '.join(missing)} extension and no BINTABLE "
                f"(extensions found: {', '.join(names)})")
        arrays = _table_columns(table, path)
        form = "table"
        # Public products put the observation keys on the primary or the table HDU.
        header = primary.copy()
        for card in table.header.cards:
            if card.keyword and card.keyword not in header and not _TABLE_STRUCTURE.match(
                    card.keyword):
                header[card.keyword] = card.value
    wave = arrays["WAVE"]
    flux = arrays["SPEC"]
    for name, arr in arrays.items():
        if arr.shape != wave.shape:
            raise SpectrumFormatError(f"{path}: {name} has shape {arr.shape} but WAVE has "
                                      f"{wave.shape}")
    notes: list[str] = []
    sigma, placeholder = _sigma(arrays.get("SIG"), wave.shape)
    if placeholder:
        notes.append(f"SIG is a placeholder ({placeholder}): sigma set to NaN")
    good = np.isfinite(wave) & np.isfinite(flux)
    arm = _arm(arm, path, header, wave)
    spec = EchelleSpectrum(
        path=str(path), arm=arm, wavelength=wave, flux=flux, sigma=sigma,
        continuum=arrays.get("CONT"), good=good, meta=_meta(header),
        snr=_fox_snr(header, wave.shape[0]), form=form,
        sigma_placeholder=bool(placeholder), notes=tuple(notes),
    )
    if arm == "nir" and wave.shape[1] == 2 * NIR_DETECTOR_GAP_PX:
        spec = split_detector_gap(spec)
    elif arm == "nir" and form == "caracal":
        spec = replace(spec, notes=spec.notes + (
            f"not split: {wave.shape[1]}-px orders, the detector gap needs "
            f"{2 * NIR_DETECTOR_GAP_PX}",))
    bad = np.flatnonzero(~np.any(spec.good, axis=1))
    if bad.size:
        spec = _with_bad_orders(spec, bad)
    return spec


def _image(hdul: fits.HDUList, name: str, path: Path) -> np.ndarray:
    data = hdul[name].data
    if data is None:
        raise SpectrumFormatError(f"{path}: extension {name} holds no data")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise SpectrumFormatError(f"{path}: extension {name} is {data.ndim}-d, expected "
                                  "(orders, pixels)")
    return data


def _table_columns(table: fits.BinTableHDU, path: Path) -> dict[str, np.ndarray]:
    by_upper = {col.name.upper(): col.name for col in table.columns}
    missing = [n for n in REQUIRED_EXTENSIONS if n not in by_upper]
    if missing:
        raise SpectrumFormatError(
            f"{path}: table {table.name or '(unnamed)'} lacks column(s) {', '.join(missing)}"
            f" (columns: {', '.join(by_upper.values())})")
    out = {}
    for name in ("SPEC", "CONT", "SIG", "WAVE"):
        if name in by_upper:
            col = np.asarray(table.data[by_upper[name]], dtype=np.float64)
            # Vector columns: one row per order; scalar columns: one merged spectrum.
            out[name] = col if col.ndim == 2 else col.reshape(1, -1)
    return out


def _sigma(sig: np.ndarray | None, shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """The sigma array and, if it is a placeholder, why (else ``""``)."""
    if sig is None:
        return np.full(shape, np.nan), "no SIG"
    finite = sig[np.isfinite(sig)]
    if finite.size == 0:
        return np.full(shape, np.nan), "no finite value"
    if np.all(finite == finite[0]):
        return np.full(shape, np.nan), f"constant {finite[0]:g}"
    if np.all(finite <= 0):
        return np.full(shape, np.nan), "no positive value"
    return sig, ""


def _arm(arm: str | None, path: Path, header: fits.Header, wave: np.ndarray) -> str:
    if arm is not None:
        if arm not in ARMS:
            raise ValueError(f"{path}: arm must be one of {ARMS}, got {arm!r}")
        return arm
    name = path.name.lower()
    for candidate in ARMS:
        if re.search(rf"[-_.]{candidate}([-_.]|$)", name):
            return candidate
    instrument = str(header.get("INSTRUME", "")).lower()
    for candidate in ARMS:
        if candidate in instrument:
            return candidate
    n_orders = wave.shape[0]
    if n_orders == FILE_SHAPES["vis"][0]:
        return "vis"
    if n_orders in (FILE_SHAPES["nir"][0], 2 * FILE_SHAPES["nir"][0]):
        return "nir"
    median = np.nanmedian(wave) if np.isfinite(wave).any() else np.nan
    if np.isfinite(median):
        return "vis" if median < _ARM_SPLIT_ANGSTROM else "nir"
    raise SpectrumFormatError(f"{path}: cannot tell the arm (name, INSTRUME, order count "
                              "and wavelengths say nothing); pass arm=")


def _meta(header: fits.Header) -> dict:
    out = {}
    for key, card in META_KEYS.items():
        value = header.get(card)
        if value is None and card.startswith("HIERARCH "):
            value = header.get(card[len("HIERARCH "):])
        out[key] = value
    return out


def _fox_snr(header: fits.Header, n_orders: int) -> np.ndarray:
    found = {}
    for key in header.keys():
        match = _SNR_KEY.match(key.removeprefix("HIERARCH ").strip())
        if match:
            found[int(match.group(1))] = header[key]
    snr = np.full(n_orders, np.nan)
    if not found:
        return snr
    # CARACAL numbers orders from 0; accept a 1-based header too.
    offset = 1 if 0 not in found and n_orders in found else 0
    for index, value in found.items():
        i = index - offset
        if 0 <= i < n_orders:
            try:
                snr[i] = float(value)
            except (TypeError, ValueError):
                pass
    return snr


def _with_bad_orders(spec: EchelleSpectrum, bad: np.ndarray) -> EchelleSpectrum:
    listed = ", ".join(str(int(b)) for b in bad)
    return replace(spec, bad_orders=tuple(int(b) for b in bad),
                   notes=spec.notes + (f"{bad.size} order(s) without finite flux: {listed}",))

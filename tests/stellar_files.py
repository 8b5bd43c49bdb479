"""Hand-made CARMENES and BT-Settl files for the galstar.spectra tests and benchmark.

Written with astropy and plain text in the real layouts (issue 12, ../shared/REFERENCE.md):
CARACAL image products (empty primary, SPEC / CONT / SIG / WAVE, VIS 61 x 4096, NIR
28 x 4080 with a detector gap between pixels 2039 and 2040), the tabular public form,
and ``.spec.7`` ASCII with Fortran ``D`` exponents. Independent of galstar.mock so
that the readers are tested against the format, not against the mock writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter1d

RESOLVING_POWER = {"vis": 94_600.0, "nir": 80_400.0}
# Arm geometry: (n_orders, n_px), first and last order centre [A], order half-width in
# ln(lambda), detector-gap jump in ln(lambda) (NIR only).
GEOMETRY = {
    "vis": dict(shape=(61, 4096), first=5230.0, last=9620.0, half=0.0062, gap=0.0),
    "nir": dict(shape=(28, 4080), first=9760.0, last=16900.0, half=0.0112, gap=0.0004),
}


def line_spectrum(lo: float, hi: float, rng: np.random.Generator, n_lines: int = 4000,
                  resolving_power: float = 94_600.0) -> tuple[np.ndarray, np.ndarray]:
    """A normalised absorption spectrum on a fine ln-lambda grid, lines of FWHM
    lambda / R and a few broad bands."""
    step = 1.0 / (resolving_power * 4)  # 4 pixels per FWHM
    lnw = np.arange(np.log(lo), np.log(hi), step)
    tau = np.zeros(lnw.size)
    idx = rng.integers(0, lnw.size, n_lines)
    # Peak optical depths 0.05-2 after the blur (sigma = 4 / 2.3548 px).
    np.add.at(tau, idx, rng.uniform(0.05, 2.0, n_lines) * (4.0 / 2.3548) * np.sqrt(2 * np.pi))
    tau = gaussian_filter1d(tau, 4.0 / 2.3548)
    x = (lnw - lnw[0]) / (lnw[-1] - lnw[0])
    tau += 0.3 * np.sin(2 * np.pi * 7 * x) ** 8  # band-like troughs
    return np.exp(lnw), np.exp(-tau)


def echelle_arrays(arm: str, seed: int = 0, level: float = 2e4, snr: float = 80.0
                   ) -> dict[str, np.ndarray]:
    """SPEC, CONT, SIG, WAVE arrays of one arm in the file shape (NIR unsplit)."""
    geo = GEOMETRY[arm]
    rng = np.random.default_rng(seed)
    n_orders, n_px = geo["shape"]
    centres = np.geomspace(geo["first"], geo["last"], n_orders)
    x = np.linspace(-1.0, 1.0, n_px)
    lnw = np.log(centres)[:, None] + geo["half"] * x[None, :]
    if geo["gap"]:
        lnw[:, n_px // 2:] += geo["gap"]
    wave = np.exp(lnw)
    fine_w, fine_f = line_spectrum(wave.min() * 0.999, wave.max() * 1.001, rng,
                                   resolving_power=RESOLVING_POWER[arm])
    # Smooth stellar shape times the blaze (cos^2-like, ~0.3 at the order edges).
    shape = (wave / 8000.0) ** -1.5
    blaze = 0.3 + 0.7 * np.cos(0.5 * np.pi * x)[None, :] ** 2
    cont = level * shape * blaze
    clean = cont * np.interp(wave, fine_w, fine_f)
    sig = clean / snr * np.sqrt(np.clip(clean / cont, 0.05, None))
    spec = clean + sig * rng.standard_normal(clean.shape)
    return {"SPEC": spec, "CONT": cont, "SIG": sig, "WAVE": wave}


def caracal_header(n_orders: int, obj: str = "J17578+046", berv: float = 12.5,
                   snr: float = 80.0) -> fits.Header:
    """A primary header as CARACAL writes it (the keys the reader uses)."""
    hdr = fits.Header()
    hdr["OBJECT"] = obj
    hdr["DATE-OBS"] = "2016-05-01T23:11:05.123"
    hdr["MJD-OBS"] = 57509.96603
    hdr["EXPTIME"] = 1800.0
    hdr["RA"] = 269.4484
    hdr["DEC"] = 4.6934
    hdr["AIRMASS"] = 1.21
    hdr["HIERARCH CARACAL BERV"] = berv
    hdr["HIERARCH CARACAL BJD"] = 2457510.46742
    for i in range(n_orders):
        hdr[f"HIERARCH CARACAL FOX SNR {i}"] = snr + i
    return hdr


def write_caracal(path: Path, arm: str, arrays: dict[str, np.ndarray] | None = None,
                  seed: int = 0, extensions: tuple[str, ...] = ("SPEC", "CONT", "SIG", "WAVE"),
                  **header) -> Path:
    """Write ``car-...-{arm}_A.fits``: empty primary + image extensions."""
    arrays = echelle_arrays(arm, seed) if arrays is None else arrays
    n_orders = arrays["WAVE"].shape[0]
    hdus = [fits.PrimaryHDU(header=caracal_header(n_orders, **header))]
    for name in extensions:
        hdus.append(fits.ImageHDU(arrays[name].astype(np.float64 if name == "WAVE"
                                                      else np.float32), name=name))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def write_tabular(path: Path, wave: np.ndarray, spec: np.ndarray, cont: np.ndarray,
                  sig: np.ndarray, obj: str = "J11302+076") -> Path:
    """Public-product form: one BINTABLE with WAVE, SPEC, CONT, SIG (scalar or vector)."""
    fmt = "D" if wave.ndim == 1 else f"{wave.shape[1]}D"
    cols = [fits.Column(name=n, format=fmt, array=a)
            for n, a in (("WAVE", wave), ("SPEC", spec), ("CONT", cont), ("SIG", sig))]
    primary = fits.PrimaryHDU()
    primary.header["OBJECT"] = obj
    table = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    table.header["HIERARCH CARACAL BERV"] = -3.25
    fits.HDUList([primary, table]).writeto(path, overwrite=True)
    return path


def fortran(value: float, digits: int = 7) -> str:
    """A number as Fortran writes it with a D exponent, e.g. ``0.1000000D+05``."""
    if value == 0:
        return f"0.{'0' * digits}D+00"
    exponent = int(np.floor(np.log10(abs(value)))) + 1
    mantissa = value / 10.0**exponent
    text = f"{mantissa:.{digits}f}D{exponent:+03d}"
    return text


def spec7_lines(wave: np.ndarray, logf: np.ndarray, run_together: bool = False) -> list[str]:
    """``.spec.7`` rows: wavelength, log10 F - DF, a blackbody column, a line id."""
    rows = []
    for w, f in zip(wave, logf, strict=True):
        bb = fortran(f + 0.1, 4)
        if run_together and f < 0:
            rows.append(f" {fortran(w)}{fortran(f, 4)} {bb}  0 0 0")
        else:
            rows.append(f" {fortran(w)} {fortran(f, 4)} {bb}  0 0 0")
    return rows

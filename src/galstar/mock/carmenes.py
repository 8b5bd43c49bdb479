"""Observed stars written as CARMENES CARACAL products, and their literature labels.

One ``car-<stamp>-sci-gtoc-{vis,nir}_A.fits`` per star and arm: an empty primary HDU
with a CARACAL-like header (``OBJECT`` = Karmn id, ``DATE-OBS``, ``MJD-OBS``,
``EXPTIME``, ``RA``, ``DEC``, ``AIRMASS``, ``HIERARCH CARACAL BERV`` [km/s],
``HIERARCH CARACAL BJD``, ``HIERARCH CARACAL FOX SNR <n>`` per file row), then image
extensions ``SPEC``, ``CONT``, ``SIG`` (float32, e-) and ``WAVE`` (float64, vacuum A,
topocentric). The label table follows Schweitzer et al. (2019): ``Karmn, Name, SpT,
Teff, e_Teff, logg, e_logg, [Fe/H], e_[Fe/H], Ref``, with -9999 and empty cells.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.time import Time

from galstar.io import atomic_path

__all__ = ["SENTINEL", "karmn_id", "obs_stamp", "caracal_hdul", "write_caracal",
           "spectral_type", "literature_labels", "write_labels"]

#: Placeholder of a missing catalogue value.
SENTINEL = -9999


def karmn_id(ra_deg: float, dec_deg: float) -> str:
    """CARMENES identifier ``Jhhmmm+ddd`` (RA to 0.1 min, Dec to 0.1 deg, truncated).

    >>> karmn_id(269.45, 4.69)
    'J17578+046'
    """
    minutes = ra_deg / 15.0 * 60.0
    hh, mm = int(minutes // 60), minutes % 60
    tenth_min = int(np.floor(mm * 10 + 1e-9))
    sign = "+" if dec_deg >= 0 else "-"
    d10 = int(np.floor(abs(dec_deg) * 10 + 1e-9))
    return f"J{hh:02d}{tenth_min:03d}{sign}{d10:03d}"


def obs_stamp(mjd: float) -> tuple[str, str]:
    """(``DATE-OBS`` ISO time, file-name stamp ``YYYYMMDDTHHhMMmSSs``) of an MJD."""
    t = Time(mjd, format="mjd", scale="utc")
    dt = t.to_datetime()
    return t.isot, dt.strftime("%Y%m%dT%Hh%Mm%Ss")


def caracal_hdul(obs, header: dict) -> fits.HDUList:
    """The HDU list of one arm
    (``obs``: :class:`~galstar.simulate.carmenes_observing.ArmObservation`).

    Parameters
    ----------
    obs : ArmObservation
        Arrays (n_orders, n_px) and per-order S/N.
    header : dict
        Primary header cards (``OBJECT``, ``DATE-OBS``, ...; HIERARCH keys spelled out).
    """
    items = {"TELESCOP": ("CA 3.5m", "Calar Alto 3.5 m telescope"),
             "INSTRUME": ("CARMENES", ""), **header}
    for n, snr in enumerate(obs.snr):
        items[f"HIERARCH CARACAL FOX SNR {n}"] = (round(float(snr), 2), f"S/N order {n}")
    # one Header from a card list: card-by-card assignment costs more than the data
    cards = [fits.Card(k, *(v if isinstance(v, tuple) else (v,))) for k, v in items.items()]
    hdus = [fits.PrimaryHDU(header=fits.Header(cards))]
    for name, data, dtype, unit in (("SPEC", obs.spec, np.float32, "e-"),
                                    ("CONT", obs.cont, np.float32, "e-"),
                                    ("SIG", obs.sig, np.float32, "e-"),
                                    ("WAVE", obs.wave, np.float64, "Angstrom")):
        hdu = fits.ImageHDU(np.ascontiguousarray(data, dtype=dtype), name=name)
        hdu.header["BUNIT"] = unit
        hdus.append(hdu)
    return fits.HDUList(hdus)


def write_caracal(path: str | os.PathLike, obs, header: dict) -> None:
    """Write one CARACAL product atomically."""
    with atomic_path(path) as tmp:
        # the cards are built here, valid by construction: skip astropy's re-verification
        caracal_hdul(obs, header).writeto(tmp, overwrite=True, output_verify="ignore")


def spectral_type(teff: float) -> str:
    """Approximate spectral type of a K7-M9 dwarf from Teff [K]."""
    if teff >= 4000:
        return "K7V" if teff < 4200 else "K5V"
    sub = min(9.0, max(0.0, (3900.0 - teff) / 180.0))
    return f"M{np.floor(sub * 2) / 2:.1f}V"


def literature_labels(karmn: np.ndarray, truth: pd.DataFrame, rng: np.random.Generator, *,
                      teff_sigma: float, logg_sigma: float, mh_sigma: float,
                      sentinel_fraction: float, missing_fraction: float,
                      unlabelled_fraction: float, extra_fraction: float
                      ) -> tuple[pd.DataFrame, list[str]]:
    """A literature compilation of the stars: noisy values, sentinels, gaps.

    Parameters
    ----------
    karmn : ndarray of str
        Identifiers of the observed stars (row-aligned with ``truth``).
    truth : pandas.DataFrame
        ``teff, logg, mh``.
    rng : numpy.random.Generator
    teff_sigma, logg_sigma, mh_sigma : float
        Scatter of the published values around the truth.
    sentinel_fraction, missing_fraction : float
        Rows with one of Teff / logg / [Fe/H] set to -9999 / left empty.
    unlabelled_fraction : float
        Stars left out of the compilation.
    extra_fraction : float
        Rows (relative to the stars) for stars that were not observed.

    Returns
    -------
    labels : pandas.DataFrame
        The table (Schweitzer et al. 2019 columns), rows in RA order.
    injected : list of str
        Per star (row-aligned with ``truth``): ``''`` or what was done to its label
        (``unlabelled``, ``label_sentinel_<col>``, ``label_missing_<col>``).
    """
    n = len(truth)
    teff = truth["teff"].to_numpy() + rng.normal(0, teff_sigma, n)
    logg = truth["logg"].to_numpy() + rng.normal(0, logg_sigma, n)
    mh = truth["mh"].to_numpy() + rng.normal(0, mh_sigma, n)
    labels = pd.DataFrame({
        "Karmn": karmn,
        "Name": [f"GJ {4000 + i}" for i in range(n)],
        "SpT": [spectral_type(t) for t in truth["teff"]],
        "Teff": np.round(teff).astype(float),
        "e_Teff": np.round(np.clip(rng.normal(51, 8, n), 30, 100)).astype(float),
        "logg": np.round(logg, 2),
        "e_logg": np.round(np.clip(rng.normal(0.07, 0.01, n), 0.04, 0.12), 2),
        "[Fe/H]": np.round(mh, 2),
        "e_[Fe/H]": np.round(np.clip(rng.normal(0.16, 0.02, n), 0.08, 0.3), 2),
        "Ref": rng.choice(["Pas18", "Pas19", "Sch19", "Mar21"], n),
    })
    injected = [""] * n
    cols = ["Teff", "logg", "[Fe/H]"]
    draw = rng.random(n)
    which = rng.integers(0, 3, n)
    for i in range(n):
        col = cols[which[i]]
        if draw[i] < sentinel_fraction:
            labels.loc[i, col] = SENTINEL
            injected[i] = f"label_sentinel_{col}"
        elif draw[i] < sentinel_fraction + missing_fraction:
            labels.loc[i, col] = np.nan
            injected[i] = f"label_missing_{col}"
    drop = rng.random(n) < unlabelled_fraction
    for i in np.flatnonzero(drop):
        injected[i] = "unlabelled"
    labels = labels[~drop]
    n_extra = int(round(extra_fraction * n))
    if n_extra:
        extra = labels.sample(n=min(n_extra, len(labels)), random_state=int(rng.integers(2**31)))
        taken, ids = set(karmn), []
        while len(ids) < len(extra):
            kid = karmn_id(rng.uniform(0, 360), rng.uniform(-23, 89))
            if kid not in taken:
                taken.add(kid)
                ids.append(kid)
        extra = extra.assign(Karmn=ids, Name=[f"LP {100 + i}-{i % 97}" for i in range(len(ids))])
        labels = pd.concat([labels, extra], ignore_index=True)
    return labels.sort_values("Karmn", ignore_index=True), injected


def write_labels(labels: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the label table as CSV (empty cells for missing values), atomically."""
    with atomic_path(path) as tmp:
        labels.to_csv(tmp, index=False, na_rep="")

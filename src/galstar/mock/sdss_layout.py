"""The SDSS ``spec-PLATE-MJD-FIBER.fits`` file format (DR8+ legacy "lite" coadd).

Column names and FITS formats of ``COADD``, ``SPECOBJ`` and ``SPZLINE`` are copied from
the real DR7 galaxy spectrum ``spec-0266-51602-0013.fits`` (the test fixture), so a
reader of the real files reads the mock's. :func:`spec_file_bytes` assembles a file from
cached headers and big-endian record arrays (about 1 ms a file, versus ~40 ms through
``astropy.io.fits`` table construction with 126 ``SPECOBJ`` columns); the result is
ordinary FITS, checked against astropy in the tests.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = ["COADD_FORMATS", "SPECOBJ_COLUMNS", "SPZLINE_COLUMNS", "SPZLINE_LINES",
           "PRIMARY_TEMPLATE", "empty_records", "spec_file_bytes"]

#: ``COADD``: (name, TFORM) in file order; flux, ivar, sky, model in 1e-17 erg/s/cm2/A,
#: loglam in log10 A (vacuum), wdisp in pixels.
COADD_FORMATS = (("flux", "E"), ("loglam", "E"), ("ivar", "E"), ("and_mask", "J"),
                 ("or_mask", "J"), ("wdisp", "E"), ("sky", "E"), ("model", "E"))

#: ``SPECOBJ`` (one row): (name, TFORM) in file order.
SPECOBJ_COLUMNS = (
    ("SURVEY", "6A"), ("INSTRUMENT", "4A"), ("CHUNK", "16A"), ("PROGRAMNAME", "23A"),
    ("PLATERUN", "16A"), ("PLATEQUALITY", "8A"), ("PLATESN2", "E"), ("DEREDSN2", "E"),
    ("LAMBDA_EFF", "E"), ("BLUEFIBER", "J"), ("ZOFFSET", "E"), ("SNTURNOFF", "E"),
    ("NTURNOFF", "J"), ("SPECPRIMARY", "B"), ("SPECLEGACY", "B"), ("SPECSEGUE", "B"),
    ("SPECSEGUE1", "B"), ("SPECSEGUE2", "B"), ("SPECBOSS", "B"), ("BOSS_SPECOBJ_ID", "J"),
    ("SPECOBJID", "22A"), ("FLUXOBJID", "19A"), ("BESTOBJID", "19A"),
    ("TARGETOBJID", "22A"), ("PLATEID", "19A"), ("NSPECOBS", "I"), ("FIRSTRELEASE", "3A"),
    ("RUN2D", "3A"), ("RUN1D", "1A"), ("DESIGNID", "J"), ("CX", "D"), ("CY", "D"),
    ("CZ", "D"), ("XFOCAL", "E"), ("YFOCAL", "E"), ("SOURCETYPE", "19A"),
    ("TARGETTYPE", "8A"), ("PRIMTARGET", "J"), ("SECTARGET", "J"), ("LEGACY_TARGET1", "J"),
    ("LEGACY_TARGET2", "J"), ("SPECIAL_TARGET1", "K"), ("SPECIAL_TARGET2", "K"),
    ("SEGUE1_TARGET1", "J"), ("SEGUE1_TARGET2", "J"), ("SEGUE2_TARGET1", "J"),
    ("SEGUE2_TARGET2", "J"), ("MARVELS_TARGET1", "J"), ("MARVELS_TARGET2", "J"),
    ("BOSS_TARGET1", "K"), ("BOSS_TARGET2", "K"), ("ANCILLARY_TARGET1", "K"),
    ("ANCILLARY_TARGET2", "K"), ("SPECTROGRAPHID", "I"), ("PLATE", "J"), ("TILE", "J"),
    ("MJD", "J"), ("FIBERID", "J"), ("OBJID", "5J"), ("PLUG_RA", "D"), ("PLUG_DEC", "D"),
    ("CLASS", "6A"), ("SUBCLASS", "21A"), ("Z", "E"), ("Z_ERR", "E"), ("RCHI2", "E"),
    ("DOF", "J"), ("RCHI2DIFF", "E"), ("TFILE", "24A"), ("TCOLUMN", "10J"), ("NPOLY", "J"),
    ("THETA", "10E"), ("VDISP", "E"), ("VDISP_ERR", "E"), ("VDISPZ", "E"),
    ("VDISPZ_ERR", "E"), ("VDISPCHI2", "E"), ("VDISPNPIX", "E"), ("VDISPDOF", "J"),
    ("WAVEMIN", "E"), ("WAVEMAX", "E"), ("WCOVERAGE", "E"), ("ZWARNING", "J"),
    ("SN_MEDIAN_ALL", "E"), ("SN_MEDIAN", "5E"), ("CHI68P", "E"), ("FRACNSIGMA", "10E"),
    ("FRACNSIGHI", "10E"), ("FRACNSIGLO", "10E"), ("SPECTROFLUX", "5E"),
    ("SPECTROFLUX_IVAR", "5E"), ("SPECTROSYNFLUX", "5E"), ("SPECTROSYNFLUX_IVAR", "5E"),
    ("SPECTROSKYFLUX", "5E"), ("ANYANDMASK", "J"), ("ANYORMASK", "J"), ("SPEC1_G", "E"),
    ("SPEC1_R", "E"), ("SPEC1_I", "E"), ("SPEC2_G", "E"), ("SPEC2_R", "E"),
    ("SPEC2_I", "E"), ("ELODIE_FILENAME", "25A"), ("ELODIE_OBJECT", "21A"),
    ("ELODIE_SPTYPE", "10A"), ("ELODIE_BV", "E"), ("ELODIE_TEFF", "E"),
    ("ELODIE_LOGG", "E"), ("ELODIE_FEH", "E"), ("ELODIE_Z", "E"), ("ELODIE_Z_ERR", "E"),
    ("ELODIE_Z_MODELERR", "E"), ("ELODIE_RCHI2", "E"), ("ELODIE_DOF", "J"),
    ("Z_NOQSO", "E"), ("Z_ERR_NOQSO", "E"), ("ZWARNING_NOQSO", "J"), ("CLASS_NOQSO", "1A"),
    ("SUBCLASS_NOQSO", "1A"), ("RCHI2DIFF_NOQSO", "E"), ("Z_PERSON", "E"),
    ("CLASS_PERSON", "J"), ("Z_CONF_PERSON", "J"), ("COMMENTS_PERSON", "1A"),
    ("CALIBFLUX", "5E"), ("CALIBFLUX_IVAR", "5E"),
)

#: ``SPZLINE`` (one row per line): (name, TFORM) in file order.
SPZLINE_COLUMNS = (
    ("PLATE", "J"), ("MJD", "J"), ("FIBERID", "J"), ("LINENAME", "13A"), ("LINEWAVE", "D"),
    ("LINEZ", "E"), ("LINEZ_ERR", "E"), ("LINESIGMA", "E"), ("LINESIGMA_ERR", "E"),
    ("LINEAREA", "E"), ("LINEAREA_ERR", "E"), ("LINEEW", "E"), ("LINEEW_ERR", "E"),
    ("LINECONTLEVEL", "E"), ("LINECONTLEVEL_ERR", "E"), ("LINENPIXLEFT", "J"),
    ("LINENPIXRIGHT", "J"), ("LINEDOF", "E"), ("LINECHI2", "E"),
)

#: The 29 lines of ``SPZLINE``: name and vacuum rest wavelength [A].
SPZLINE_LINES = (
    ("Ly_alpha", 1215.67),
    ("N_V 1240", 1240.81),
    ("C_IV 1549", 1549.48),
    ("He_II 1640", 1640.42),
    ("C_III] 1908", 1908.734),
    ("Mg_II 2799", 2800.3151836549728),
    ("[O_II] 3725", 3727.091726797987),
    ("[O_II] 3727", 3729.875447997208),
    ("[Ne_III] 3868", 3869.8567972272717),
    ("H_epsilon", 3890.1510799166767),
    ("[Ne_III] 3970", 3971.1231872114904),
    ("H_delta", 4102.891630872568),
    ("H_gamma", 4341.684312649426),
    ("[O_III] 4363", 4364.435300399844),
    ("He_II 4685", 4686.991444195157),
    ("H_beta", 4862.682993731257),
    ("[O_III] 4959", 4960.2949014467185),
    ("[O_III] 5007", 5008.239637728127),
    ("He_II 5411", 5413.024422565308),
    ("[O_I] 5577", 5578.887703795193),
    ("[O_I] 6300", 6302.046376726897),
    ("[S_III] 6312", 6313.805532906624),
    ("[O_I] 6363", 6365.535419574267),
    ("[N_II] 6548", 6549.858929253789),
    ("H_alpha", 6564.613894333284),
    ("[N_II] 6583", 6585.2684452471885),
    ("[S_II] 6716", 6718.29420811581),
    ("[S_II] 6730", 6732.678076327587),
    ("[Ar_III] 7135", 7137.757103334721),
)

#: Primary-header keywords written to every file (values from the fixture where they
#: are plate-independent); ``spec_file_bytes`` adds the per-object ones.
PRIMARY_TEMPLATE: tuple[tuple[str, Any, str], ...] = (
    ("TELESCOP", "SDSS 2.5-M", "Sloan Digital Sky Survey"),
    ("FLAVOR", "science", "Flavor of this sequence"),
    ("TIMESYS", "tai", "TAI, not UTC"),
    ("EQUINOX", 2000.0, ""),
    ("RADECSYS", "FK5", ""),
    ("EXPTIME", 3600.0, "Minimum of exposure times for all cameras"),
    ("NEXP", 8, "Number of individual exposures"),
    ("VERS2D", "v5_3_12", "Version of idlspec2d for 2D reduction"),
    ("VERSCOMB", "v5_3_12", "Version of idlspec2d for combining spectra"),
    ("VACUUM", True, "Wavelengths are in vacuum"),
    ("NWORDER", 2, "Linear-log10 coefficients"),
    ("WFITTYPE", "LOG-LINEAR", "Linear-log10 dispersion"),
    ("COEFF1", 1e-4, "Log10 dispersion per pixel"),
    ("DC-FLAG", 1, "Log-linear flag"),
    ("BUNIT", "1E-17 erg/cm^2/s/Ang", ""),
)

_TFORM_DTYPE = {"E": ">f4", "D": ">f8", "J": ">i4", "I": ">i2", "K": ">i8", "B": "u1"}


def _dtype(formats: tuple[tuple[str, str], ...]) -> np.dtype:
    out = []
    for name, tform in formats:
        code = tform.lstrip("0123456789")
        rep = int(tform[: len(tform) - len(code)] or 1)
        if code == "A":
            out.append((name, f"S{rep}"))
        elif rep > 1:
            out.append((name, _TFORM_DTYPE[code], (rep,)))
        else:
            out.append((name, _TFORM_DTYPE[code]))
    return np.dtype(out)


def _pad(data: bytes, fill: bytes = b"\0") -> bytes:
    return data + fill * (-len(data) % 2880)


@lru_cache(maxsize=8)
def _table_header(extname: str, n_rows: int) -> tuple[bytes, np.dtype]:
    formats = {"COADD": COADD_FORMATS, "SPECOBJ": SPECOBJ_COLUMNS,
               "SPZLINE": SPZLINE_COLUMNS}[extname]
    cols = [fits.Column(name=n, format=f) for n, f in formats]
    hdu = fits.BinTableHDU.from_columns(cols, nrows=0, name=extname)
    header = hdu.header
    header["NAXIS2"] = n_rows
    dtype = _dtype(formats)
    if dtype.itemsize != header["NAXIS1"]:
        raise AssertionError(f"{extname}: record {dtype.itemsize} B, header {header['NAXIS1']}")
    return header.tostring().encode("ascii"), dtype


def empty_records(extname: str, n_rows: int) -> np.ndarray:
    """Zeroed big-endian records of one table of the layout (fill them, then write)."""
    _, dtype = _table_header(extname, n_rows)
    return np.zeros(n_rows, dtype=dtype)


def _card(key: str, value: Any, comment: str = "") -> bytes:
    """One 80-character header card in FITS fixed format (bool, int, float or str)."""
    if isinstance(value, (bool, np.bool_)):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, (int, np.integer)):
        text = f"{int(value):>20d}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):>20.12G}"
        if "." not in text and "E" not in text:
            text = f"{float(value):>20.1f}"
    else:
        quoted = str(value).replace("'", "''")
        text = f"'{quoted:<8}'"
    card = f"{key.upper():<8}= {text}" + (f" / {comment}" if comment else "")
    if len(card) > 80:
        raise ValueError(f"header card {key}={value!r} longer than 80 characters")
    return card.ljust(80).encode("ascii")


@lru_cache(maxsize=1)
def _primary_template() -> bytes:
    head = [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, "array data type"),
            ("NAXIS", 0, "number of array dimensions"), ("EXTEND", True, "")]
    return b"".join(_card(k, v, c) for k, v, c in (*head, *PRIMARY_TEMPLATE))


def spec_file_bytes(primary: dict[str, Any], coadd: np.ndarray, specobj: np.ndarray,
                    spzline: np.ndarray) -> bytes:
    """One ``spec`` file as bytes.

    Parameters
    ----------
    primary : dict
        Extra primary-header keywords (``PLATEID``, ``MJD``, ``FIBERID``, ``COEFF0`` ...)
        written after :data:`PRIMARY_TEMPLATE`.
    coadd, specobj, spzline : numpy.ndarray
        Records from :func:`empty_records` (``COADD`` of n_pixels rows, one
        ``SPECOBJ`` row, ``SPZLINE`` of 29 rows).
    """
    cards = _primary_template() + b"".join(_card(k, v) for k, v in primary.items())
    parts = [_pad(cards + b"END".ljust(80), b" ")]
    for name, records in (("COADD", coadd), ("SPECOBJ", specobj), ("SPZLINE", spzline)):
        head, dtype = _table_header(name, len(records))
        if records.dtype != dtype:
            raise TypeError(f"{name}: records of dtype {records.dtype}, layout {dtype}")
        parts.append(head)
        parts.append(_pad(records.tobytes()))
    return b"".join(parts)

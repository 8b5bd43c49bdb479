"""The mock archive's SDSS products served as the live clients would have downloaded them.

Each function copies files of a mock archive (built by :func:`build_sdss_spectra` and
:func:`build_sdss_images`) into an acquisition cache laid out as the live client's, and
returns a manifest with the live client's columns, so everything downstream of the
download is identical for ``archive: mock`` and ``archive: live``. A file the mock does
not hold fails with the reason the live service would give (``http_404`` for a spectrum,
``not_in_archive`` for a cutout); a copied file is validated by the live validators.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from galstar.archives.mpajhu_dr7 import (
    DEFAULT_NAMES,
    GAL_INFO_REQUIRED,
    GAL_TOTSFR_REQUIRED,
    validate_dr7_file,
)
from galstar.archives.mpajhu_dr7 import MANIFEST_COLUMNS as DR7_COLUMNS
from galstar.archives.sdss_images import MANIFEST_COLUMNS as IMAGE_COLUMNS
from galstar.archives.sdss_images import SDSS_BANDS
from galstar.archives.sdss_spectra import MANIFEST_COLUMNS as SPECTRA_COLUMNS
from galstar.archives.sdss_spectra import sas_spectrum_path, validate_spec_file
from galstar.archives.validate import Rejected, validate_cutout
from galstar.io import atomic_path
from galstar.mock.mpajhu_dr7 import DR7_DIR
from galstar.mock.sdss_images import SDSS_IMAGE_DIR
from galstar.mock.sdss_spectra import SDSS_MANIFEST

__all__ = ["mock_fetch_sdss_spectra", "mock_fetch_sdss_images", "mock_fetch_dr7"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def mock_fetch_sdss_spectra(targets: pd.DataFrame, dest_dir: str | os.PathLike,
                            mock_root: str | os.PathLike) -> pd.DataFrame:
    """Copy the spectra of ``targets`` (``plateid``, ``mjd``, ``fiberid``) from the mock SAS.

    Files go to ``<dest_dir>/<SAS path>``, as :func:`galstar.archives.sdss_spectra.
    fetch_sdss_spectra` caches them; a valid file already there is kept (attempts 0).

    Returns
    -------
    pandas.DataFrame
        One row per target, in order (the live client's ``MANIFEST_COLUMNS``; ``url`` is
        the mock file's path).
    """
    root = Path(mock_root)
    manifest = root / SDSS_MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: the mock archive has no SDSS spectra "
                                "(build them with galstar.mock.build_sdss_spectra)")
    settings = json.loads(manifest.read_text())["settings"]
    release, run2d = settings["release"], settings["run2d"]
    rows = []
    for plate, mjd, fiber in zip(targets["plateid"], targets["mjd"], targets["fiberid"],
                                 strict=True):
        key = (int(plate), int(mjd), int(fiber))
        rel = sas_spectrum_path(*key, run2d, release)
        src, dest = root / rel, Path(dest_dir) / rel
        row = {"plate": key[0], "mjd": key[1], "fiberid": key[2], "url": str(src),
               "path": "", "status": "failed", "reject_reason": "", "sha256": "",
               "attempts": 1}
        try:
            if dest.is_file():
                try:
                    validate_spec_file(dest, key)
                    row["attempts"] = 0
                except Rejected:
                    dest.unlink()
            if not dest.is_file():
                if not src.is_file():
                    raise Rejected("http_404", permanent=True)
                _copy(src, dest)
                validate_spec_file(dest, key)
            row.update(path=str(dest), status="ok", sha256=_sha256(dest))
        except Rejected as err:
            dest.unlink(missing_ok=True)
            row["reject_reason"] = err.reason
        rows.append(row)
    out = pd.DataFrame(rows, columns=SPECTRA_COLUMNS)
    for col in ("plate", "mjd", "fiberid", "attempts"):  # the live client's dtypes
        out[col] = out[col].astype("int32")
    return out


def mock_fetch_sdss_images(targets: pd.DataFrame, dest_dir: str | os.PathLike,
                           mock_root: str | os.PathLike, size: int = 64,
                           bands: str = SDSS_BANDS) -> pd.DataFrame:
    """Copy the ugriz cutouts of ``targets`` (``object_id``, ``specObjID``, ``ra``, ``dec``)
    from the mock archive's ``sdss_images/<specObjID>.fits``.

    Files go to ``<dest_dir>/cutouts/<object_id>.fits``, as
    :func:`galstar.archives.sdss_images.fetch_sdss_images` writes them, after the live
    client's cutout validation (shape ``(5, size, size)``, band keywords, finite data).

    Returns
    -------
    pandas.DataFrame
        One row per target (the live client's ``MANIFEST_COLUMNS``); a galaxy the mock
        rendered no cutout for (``mock.sdss.n_images``) fails with ``not_in_archive``.
    """
    root = Path(mock_root)
    if not (root / SDSS_IMAGE_DIR / "manifest.json").is_file():
        raise FileNotFoundError(f"{root / SDSS_IMAGE_DIR / 'manifest.json'}: the mock "
                                "archive has no SDSS images (galstar.mock.build_sdss_images)")
    rows = []
    for obj, spec, ra, dec in zip(targets["object_id"], targets["specObjID"], targets["ra"],
                                  targets["dec"], strict=True):
        src = root / SDSS_IMAGE_DIR / f"{int(spec)}.fits"
        dest = Path(dest_dir) / "cutouts" / f"{int(obj)}.fits"
        row = {"object_id": int(obj), "ra": float(ra), "dec": float(dec), "path": "",
               "status": "failed", "reject_reason": "", "n_frames": 0}
        try:
            if not src.is_file():
                raise Rejected("not_in_archive: the mock rendered no cutout of specObjID "
                               f"{int(spec)}", permanent=True)
            validate_cutout(src.read_bytes(), int(size), bands)
            if not dest.is_file() or _sha256(dest) != _sha256(src):
                _copy(src, dest)
            row.update(path=str(dest), status="ok", n_frames=len(bands))
        except Rejected as err:
            row["reject_reason"] = err.reason
        rows.append(row)
    return pd.DataFrame(rows, columns=IMAGE_COLUMNS)


def mock_fetch_dr7(dest_dir: str | os.PathLike, mock_root: str | os.PathLike) -> pd.DataFrame:
    """Copy ``gal_info_dr7_v5_2.fits`` and ``gal_totsfr_dr7_v5_2.fits`` into ``dest_dir``.

    Returns
    -------
    pandas.DataFrame
        The live client's manifest (one row per product).

    Raises
    ------
    FileNotFoundError
        When the mock archive has no DR7 files (names the missing file).
    """
    required = {"gal_info": GAL_INFO_REQUIRED, "gal_totsfr": GAL_TOTSFR_REQUIRED}
    rows = []
    for product, name in DEFAULT_NAMES.items():
        src = Path(mock_root) / DR7_DIR / name
        if not src.is_file():
            raise FileNotFoundError(f"{src}: the mock archive has no DR7 flat file "
                                    "(galstar.mock.build_sdss_spectra writes it)")
        dest = Path(dest_dir) / name
        _copy(src, dest)
        n_rows = validate_dr7_file(dest, required[product])
        rows.append({"product": product, "url": str(src), "path": str(dest), "status": "ok",
                     "reject_reason": "", "sha256": _sha256(dest), "attempts": 1,
                     "n_rows": n_rows})
    return pd.DataFrame(rows, columns=DR7_COLUMNS)

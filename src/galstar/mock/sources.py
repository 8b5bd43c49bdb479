"""Mock or live: the one place that picks the source of each archive data product.

One function per product (MPA-JHU rows, DR9 sweep files, cutouts; SDSS spectra, ugriz
cutouts and the MPA-JHU DR7 flat files) takes the config's
``archive`` and hands the live client (:mod:`galstar.archives.acquire`) or the mock
archive's equivalent to the shared acquisition code. The mock side is imported only
for ``archive: mock`` (it needs GalSim).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from galstar.archives.acquire import (
    fetch_mpajhu_live,
    list_dr9_sweeps,
    live_cutout_source,
    live_sweep_source,
)

__all__ = ["ARCHIVES", "fetch_mpajhu", "fetch_dr9_sweeps", "cutout_source",
           "cutout_source_key", "sdss_spectra_fetcher", "sdss_images_fetcher", "fetch_dr7",
           "ps1_fetcher"]

#: Values of the config key ``archive``.
ARCHIVES: tuple[str, ...] = ("mock", "live")


def _check_archive(archive: str) -> None:
    if archive not in ARCHIVES:
        raise ValueError(f"config key 'archive' must be mock or live, got {archive!r}")


def fetch_mpajhu(archive: str, out_path: str | os.PathLike, *,
                 mock_table: str | os.PathLike | None = None, url: str | None = None,
                 data_release: int = 17, page_rows: int = 200_000, push_cuts: bool = True,
                 sn_median_r_min: float | None = None, timeout_s: float = 60.0,
                 max_retries: int = 8, backoff_s: float = 1.0,
                 rate_per_s: float | None = None, seed: int = 0) -> int:
    """Write ``resources/{archive}/mpajhu.parquet``; return the number of rows.

    Parameters
    ----------
    archive : {"mock", "live"}
        Where rows come from: the mock archive's ``galSpec.fits`` (``mock_table``,
        :func:`galstar.mock.skyserver.fetch_mock_mpajhu`), or SkyServer at ``url``
        (:func:`galstar.archives.acquire.fetch_mpajhu_live`).
    out_path : path
        Parquet output (written atomically).
    url, data_release, page_rows, push_cuts, sn_median_r_min
        live: the SkyServer query.
    timeout_s, max_retries, backoff_s, rate_per_s, seed
        live: download settings (config ``download``).
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_table is None:
            raise ValueError("archive 'mock' needs mock_table (the mock galSpec.fits)")
        from galstar.mock.skyserver import fetch_mock_mpajhu

        return fetch_mock_mpajhu(mock_table, out_path)
    return fetch_mpajhu_live(out_path, url=url, data_release=data_release,
                             page_rows=page_rows, push_cuts=push_cuts,
                             sn_median_r_min=sn_median_r_min, timeout_s=timeout_s,
                             max_retries=max_retries, backoff_s=backoff_s,
                             rate_per_s=rate_per_s, seed=seed)


def fetch_dr9_sweeps(archive: str, mpajhu_path: str | os.PathLike,
                     out_list: str | os.PathLike, *, regions: Sequence[str] = ("north", "south"),
                     mock_root: str | os.PathLike | None = None, base_url: str | None = None,
                     version: str = "9.0", dest_dir: str | os.PathLike | None = None,
                     concurrency: int = 2, rate_per_s: float | None = None,
                     timeout_s: float = 60.0, max_retries: int = 8, backoff_s: float = 1.0,
                     seed: int = 0) -> list[str]:
    """Write ``dr9_sweeps.txt`` (:func:`galstar.archives.acquire.list_dr9_sweeps`).

    A box is listed for a region if the archive has it: mock, the file exists under
    ``<mock_root>/dr9/<region>/sweep/``; live, it was downloaded to
    ``<dest_dir>/<region>/sweep/<name>`` (``dest_dir`` defaults to ``dr9/`` beside
    ``out_list``) and validated, a 404 meaning the region has no such box.

    Returns
    -------
    list of str
        The listed paths.
    """
    _check_archive(archive)
    locate: Callable[[Sequence[tuple[str, str]]], list[str]]
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.sweeps import mock_sweep_source

        locate = mock_sweep_source(mock_root)
    else:
        dest = Path(out_list).parent / "dr9" if dest_dir is None else Path(dest_dir)
        locate = live_sweep_source(dest, base_url=base_url, version=version,
                                   concurrency=concurrency, rate_per_s=rate_per_s,
                                   timeout_s=timeout_s, max_retries=max_retries,
                                   backoff_s=backoff_s, seed=seed)
    return list_dr9_sweeps(mpajhu_path, out_list, locate, regions=regions)


def _mock_fetch(service, ra: float, dec: float, **kwargs) -> bytes:
    return service.fits_bytes(ra, dec, **kwargs)


def cutout_source(archive: str, *, layer: str = "ls-dr9", pixscale: float = 0.262,
                  bands: str = "grz", size: int = 152,
                  mock_root: str | os.PathLike | None = None, cutout_url: str | None = None,
                  timeout_s: float = 60.0) -> Callable[[float, float], bytes]:
    """Return ``fetch(ra, dec) -> bytes`` for the archive's cutout service.

    mock: :class:`galstar.mock.cutouts.MockCutoutService` in-process; live: the Legacy
    Survey ``fits-cutout`` service at ``cutout_url``.
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.cutouts import MockCutoutService  # only the mock needs GalSim

        service = MockCutoutService(mock_root)
        return partial(_mock_fetch, service, size=size, pixscale=pixscale, bands=bands,
                       layer=layer)
    return live_cutout_source(layer=layer, pixscale=pixscale, bands=bands, size=size,
                              cutout_url=cutout_url, timeout_s=timeout_s)


def cutout_source_key(archive: str, *, layer: str = "ls-dr9", pixscale: float = 0.262,
                      bands: str = "grz", size: int = 152,
                      mock_root: str | os.PathLike | None = None,
                      cutout_url: str | None = None) -> dict[str, object]:
    """What the cached cutouts of :func:`galstar.archives.acquire.fetch_cutouts` are a
    function of (their ``source.json``).

    The request (layer, pixel scale, bands, size) and where it goes: the service URL,
    or for the mock :func:`galstar.mock.cutouts.renderer_digest` of the archive (a
    regenerated mock serves other pixels under the same positions).
    """
    key: dict[str, object] = {"archive": archive, "layer": layer, "pixscale": float(pixscale),
                              "bands": bands, "size": int(size)}
    if archive == "live":
        key["cutout_url"] = cutout_url
    elif mock_root is not None:
        from galstar.mock.cutouts import renderer_digest

        key["mock_sha256"] = renderer_digest(mock_root)
    return key


def sdss_spectra_fetcher(archive: str, *, mock_root: str | os.PathLike | None = None,
                         base_url: str | None = None, release: str = "dr17",
                         concurrency: int = 4, rate_per_s: float | None = None,
                         timeout_s: float = 60.0, max_retries: int = 8,
                         backoff_s: float = 1.0, seed: int = 0
                         ) -> Callable[[pd.DataFrame, str | os.PathLike], pd.DataFrame]:
    """Return ``fetch(targets, dest_dir) -> manifest`` for SDSS spectrum files.

    mock: copies from the mock archive's SAS tree
    (:func:`galstar.mock.sdss_archive.mock_fetch_sdss_spectra`); live: the SAS at
    ``base_url`` (:func:`galstar.archives.sdss_spectra.fetch_sdss_spectra`, with the
    ``download`` settings). Both write ``<dest_dir>/<SAS path>`` and return one manifest
    row per target (``plate, mjd, fiberid, url, path, status, reject_reason, sha256,
    attempts``).
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.sdss_archive import mock_fetch_sdss_spectra

        return lambda targets, dest: mock_fetch_sdss_spectra(targets, dest, mock_root)
    from galstar.archives.sdss_spectra import fetch_sdss_spectra

    return partial(fetch_sdss_spectra, base_url=base_url, release=release,
                   concurrency=concurrency, rate_per_s=rate_per_s, timeout_s=timeout_s,
                   max_retries=max_retries, backoff_s=backoff_s, seed=seed)


def sdss_images_fetcher(archive: str, *, size: int = 64, pixscale: float = 0.396,
                        mock_root: str | os.PathLike | None = None,
                        base_url: str | None = None, release: str = "dr17",
                        data_release: int = 17, concurrency: int = 4,
                        rate_per_s: float | None = None, timeout_s: float = 120.0,
                        max_retries: int = 8, backoff_s: float = 1.0, seed: int = 0
                        ) -> Callable[[pd.DataFrame, str | os.PathLike], pd.DataFrame]:
    """Return ``fetch(targets, dest_dir) -> manifest`` for ugriz cutouts.

    mock: copies the mock archive's rendered cutouts
    (:func:`galstar.mock.sdss_archive.mock_fetch_sdss_images`); live: frames from the
    SAS at ``base_url``, located with ``astroquery.sdss`` (data release
    ``data_release``), cut and resampled
    (:func:`galstar.archives.sdss_images.fetch_sdss_images`). Both write
    ``<dest_dir>/cutouts/<object_id>.fits`` and return one manifest row per target
    (``object_id, ra, dec, path, status, reject_reason, n_frames``).
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.sdss_archive import mock_fetch_sdss_images

        return lambda targets, dest: mock_fetch_sdss_images(targets, dest, mock_root, size)
    from galstar.archives.sdss_images import astroquery_locator, fetch_sdss_images

    return partial(fetch_sdss_images, base_url=base_url,
                   locate=astroquery_locator(data_release), size=size, pixscale=pixscale,
                   release=release, concurrency=concurrency, rate_per_s=rate_per_s,
                   timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                   seed=seed)


def fetch_dr7(archive: str, dest_dir: str | os.PathLike, *,
              mock_root: str | os.PathLike | None = None, base_url: str | None = None,
              names: dict[str, str] | None = None, timeout_s: float = 120.0,
              max_retries: int = 8, backoff_s: float = 1.0, rate_per_s: float | None = None,
              seed: int = 0) -> pd.DataFrame:
    """Put ``gal_info`` and ``gal_totsfr`` (MPA-JHU DR7) into ``dest_dir``; return the
    manifest (one row per product).

    mock: copied from the mock archive (:func:`galstar.mock.sdss_archive.mock_fetch_dr7`);
    live: downloaded from ``base_url`` (:func:`galstar.archives.mpajhu_dr7.
    fetch_mpajhu_dr7`), which raises when a file cannot be had.
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.sdss_archive import mock_fetch_dr7

        return mock_fetch_dr7(dest_dir, mock_root)
    from galstar.archives.mpajhu_dr7 import fetch_mpajhu_dr7

    return fetch_mpajhu_dr7(dest_dir, base_url=base_url, names=names, timeout_s=timeout_s,
                            max_retries=max_retries, backoff_s=backoff_s,
                            rate_per_s=rate_per_s, seed=seed)


def ps1_fetcher(archive: str, *, size: int = 224, mock_root: str | os.PathLike | None = None,
                filenames_url: str | None = None, fitscut_url: str | None = None,
                concurrency: int = 4, rate_per_s: float | None = None,
                timeout_s: float = 60.0, max_retries: int = 8, backoff_s: float = 1.0,
                seed: int = 0) -> Callable[[pd.DataFrame, str | os.PathLike], pd.DataFrame]:
    """Return ``fetch(targets, dest_dir) -> manifest`` for Pan-STARRS1 grizy cutouts.

    mock: copies the mock archive's rendered cutouts and listings
    (:func:`galstar.mock.ps1_images.mock_fetch_ps1`); live: ``ps1filenames.py`` then
    ``fitscut.cgi`` per band (:func:`galstar.archives.panstarrs.fetch_ps1_cutouts`, with
    the ``download`` settings). Both write ``<dest_dir>/<object_id>/{listing.txt,
    <band>.fits}`` and return one row per target
    (:data:`galstar.archives.panstarrs.MANIFEST_COLUMNS`).
    """
    _check_archive(archive)
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.mock.ps1_images import mock_fetch_ps1

        return lambda targets, dest: mock_fetch_ps1(targets, dest, mock_root, size)
    from galstar.archives.panstarrs import fetch_ps1_cutouts

    return partial(fetch_ps1_cutouts, filenames_url=filenames_url, fitscut_url=fitscut_url,
                   size=size, concurrency=concurrency, rate_per_s=rate_per_s,
                   timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                   seed=seed)

"""Live SDSS spectrum (SAS) and MPA-JHU DR7 clients against a loopback server with faults.

The server (tests/http_faults.py) serves the mock archive's own SDSS files: spectra
under ``/sas/dr17/...`` exactly as the SAS lays them out, the DR7 flat files under
``/mpa/SDSS/DR7/Data/`` (also gzip-compressed, as ``.fit.gz``).
"""

from __future__ import annotations

import bz2
import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from http_faults import FaultPlan, FaultServer

from galstar.archives.mpajhu_dr7 import fetch_mpajhu_dr7, read_dr7_sfr, validate_dr7_file
from galstar.archives.sdss_spectra import (
    fetch_sdss_spectra,
    sas_spectrum_path,
    validate_spec_file,
)
from galstar.archives.validate import Rejected
from galstar.mock import build_mock_archive
from galstar.mock.mpajhu_dr7 import DR7_DIR, GAL_INFO_NAME, GAL_TOTSFR_NAME
from galstar.mock.sdss_spectra import SDSS_TRUTH, build_sdss_spectra
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/sdss/spec-0266-51602-0013.fits"
KINDS = ("500", "429", "timeout", "truncated", "truncated_nolength", "html")
# Generous timeouts: a loaded CI machine must not turn slow answers into exhausted retries.
FAST = dict(max_retries=6, backoff_s=0.005, timeout_s=1.5, rate_per_s=None)


class SdssServer(FaultServer):
    """Serves ``/sas/...`` and ``/mpa/...`` from a mock root; ``swap`` maps one SAS path
    onto another object's file (a mirror serving the wrong object)."""

    swap: dict[str, str] = {}

    def route(self, path, params, range_header):
        if path.startswith("/sas/"):
            rel = self.swap.get(path[1:], path[1:])
            return "sas", lambda: self._file(self.root / rel, range_header)
        gz = re.fullmatch(r"/mpa/SDSS/DR7/Data/(gal_[a-z]+_dr7_v5_2)\.fit\.gz", path)
        if gz:
            src = self.root / DR7_DIR / f"{gz.group(1)}.fits"
            return "mpa", lambda: (200, gzip.compress(src.read_bytes(), mtime=0), {})
        if path.startswith("/mpa/"):
            return "mpa", lambda: self._file(self.root / path[1:], range_header)
        return "other", lambda: (404, b"Not Found\n", {})


@pytest.fixture(scope="module")
def mock_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdss_archive")
    build_mock_archive(root, 40, 10, 60, 3)
    build_sdss_spectra(root, n_spectra=14)
    return root


@pytest.fixture(scope="module")
def targets(mock_root):
    truth = pd.read_parquet(mock_root / SDSS_TRUTH)
    return truth[["plate", "mjd", "fiberid", "path"]].reset_index(drop=True)


@pytest.fixture
def server(mock_root):
    started = []

    def start(rate: float = 0.0, seed: int = 0, swap=None) -> SdssServer:
        srv = SdssServer(root=mock_root, plan=FaultPlan(rate=rate, kinds=KINDS, seed=seed,
                                                        timeout_s=1.8))
        srv.swap = dict(swap or {})
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def test_spectra_download_through_faults_identical_and_resume(server, mock_root, targets,
                                                              tmp_path):
    srv = server(rate=0.4, seed=2)
    missing = pd.DataFrame({"plate": [9999], "mjd": [59999], "fiberid": [1]})
    wanted = pd.concat([targets[["plate", "mjd", "fiberid"]], missing], ignore_index=True)
    manifest = fetch_sdss_spectra(wanted, tmp_path / "sas_cache", base_url=srv.base_url,
                                  concurrency=3, seed=1, **FAST)
    assert manifest["status"].tolist() == ["ok"] * len(targets) + ["failed"]
    assert manifest["reject_reason"].iloc[-1] == "http_404"
    assert srv.stats.total_faults >= 5 and srv.stats.max_in_flight <= 3
    for t, path in zip(targets.itertuples(), manifest["path"], strict=False):
        assert path.endswith(t.path)
        assert open(path, "rb").read() == (mock_root / t.path).read_bytes()
    before = srv.stats.total_requests
    again = fetch_sdss_spectra(targets, tmp_path / "sas_cache", base_url=srv.base_url,
                               concurrency=3, seed=1, **FAST)
    assert (again["status"] == "ok").all() and (again["attempts"] == 0).all()
    assert srv.stats.total_requests == before  # everything came from the cache


def test_partial_spectrum_resumes_with_one_range_request(server, mock_root, targets,
                                                         tmp_path):
    srv = server()
    t = targets.iloc[0]
    data = (mock_root / t.path).read_bytes()
    dest = tmp_path / "cache" / t.path
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(data[: len(data) // 3])
    manifest = fetch_sdss_spectra(targets.iloc[:1], tmp_path / "cache", base_url=srv.base_url,
                                  **FAST)
    assert manifest["status"].iloc[0] == "ok" and dest.read_bytes() == data
    assert srv.stats.requests["sas"] == 1


def test_a_file_of_another_object_is_a_permanent_reject(server, targets, tmp_path):
    a, b = targets.iloc[0], targets.iloc[1]
    srv = server(swap={a.path: b.path})
    manifest = fetch_sdss_spectra(targets.iloc[:2], tmp_path / "c", base_url=srv.base_url,
                                  **FAST)
    assert manifest["status"].tolist() == ["failed", "ok"]
    assert manifest["reject_reason"].iloc[0].startswith("wrong_object")
    assert manifest["attempts"].iloc[0] == 1  # not retried


def test_spec_validation_names_what_is_wrong(mock_root, targets, tmp_path):
    good = mock_root / targets["path"].iloc[0]
    data = good.read_bytes()
    cases = {"truncated": data[: len(data) - 3000], "html_page": b"<html><body>busy</body>",
             "not_fits": b"\x00" * 4000}
    for reason, body in cases.items():
        (tmp_path / "bad.fits").write_bytes(body)
        with pytest.raises(Rejected) as err:
            validate_spec_file(tmp_path / "bad.fits")
        assert err.value.reason.startswith(reason)
    with fits.open(good) as hdul:
        renamed = fits.HDUList([h.copy() for h in hdul])
        renamed[1].name = "FLUXES"
        renamed.writeto(tmp_path / "no_coadd.fits")
        fits.HDUList([h.copy() for h in hdul[:2]]).writeto(tmp_path / "no_specobj.fits")
    for name, reason in (("no_coadd", "missing_extension: no COADD"),
                         ("no_specobj", "missing_extension: neither SPECOBJ")):
        with pytest.raises(Rejected) as err:
            validate_spec_file(tmp_path / f"{name}.fits")
        assert err.value.reason.startswith(reason) and err.value.permanent
    info = validate_spec_file(good, (targets["plate"][0], targets["mjd"][0],
                                     targets["fiberid"][0]))
    assert info.n_pixels > 3800


def test_sas_path_and_validation_of_the_real_fixture():
    assert sas_spectrum_path(266, 51602, 13) == (
        "sas/dr17/sdss/spectro/redux/26/spectra/lite/0266/spec-0266-51602-0013.fits")
    info = validate_spec_file(FIXTURE, (266, 51602, 13))
    assert (info.n_pixels, info.object_hdu) == (3838, "SPECOBJ")
    with pytest.raises(Rejected, match="wrong_object"):
        validate_spec_file(FIXTURE, (266, 51602, 14))


@pytest.mark.parametrize("compressed", [False, True])
def test_dr7_flat_files_through_faults(server, mock_root, tmp_path, compressed):
    srv = server(rate=0.7, seed=5 + compressed)
    names = ({"gal_info": "gal_info_dr7_v5_2.fit.gz",
              "gal_totsfr": "gal_totsfr_dr7_v5_2.fit.gz"} if compressed else None)
    manifest = fetch_mpajhu_dr7(tmp_path / "dr7", base_url=f"{srv.base_url}/mpa/SDSS/DR7/Data",
                                names=names, seed=3, **FAST)
    galspec = read_mock_mpajhu(mock_root / MOCK_GALSPEC)
    assert (manifest["status"] == "ok").all()
    assert manifest["n_rows"].tolist() == [len(galspec)] * 2
    assert srv.stats.total_faults > 0
    table = read_dr7_sfr(manifest["path"][0], manifest["path"][1])
    merged = table.merge(galspec, on=["plateid", "mjd", "fiberid"], validate="one_to_one")
    assert len(merged) == len(galspec)
    ok = merged["sfr_tot_flag"] == 0
    assert np.array_equal(merged.loc[ok, "sfr_tot_median"],
                          merged.loc[ok, "sfr_tot_p50"].astype(np.float32))
    assert table["plateid"].dtype == np.int32 and table["sfr_tot_avg"].dtype.isnative


def test_dr7_rejects_misaligned_or_incomplete_files(server, mock_root, tmp_path):
    src = mock_root / DR7_DIR
    with fits.open(src / GAL_TOTSFR_NAME) as hdul:
        short = fits.HDUList([hdul[0].copy(), fits.BinTableHDU(hdul[1].data[:-1])])
        (tmp_path / "srv" / DR7_DIR).mkdir(parents=True)
        short.writeto(tmp_path / "srv" / DR7_DIR / GAL_TOTSFR_NAME)
        no_flag = fits.BinTableHDU.from_columns(
            [c for c in hdul[1].columns if c.name != "FLAG"])
        fits.HDUList([fits.PrimaryHDU(), no_flag]).writeto(tmp_path / "no_flag.fits")
    (tmp_path / "srv" / DR7_DIR / GAL_INFO_NAME).write_bytes((src / GAL_INFO_NAME).read_bytes())
    srv = SdssServer(root=tmp_path / "srv").start()
    try:
        with pytest.raises(RuntimeError, match="not row-aligned"):
            fetch_mpajhu_dr7(tmp_path / "dr7", base_url=f"{srv.base_url}/mpa/SDSS/DR7/Data",
                             **FAST)
        with pytest.raises(RuntimeError, match="http_404"):
            fetch_mpajhu_dr7(tmp_path / "dr7b", base_url=f"{srv.base_url}/nowhere", **FAST)
    finally:
        srv.stop()
    with pytest.raises(Rejected, match="missing_columns"):
        validate_dr7_file(tmp_path / "no_flag.fits", ["FLAG"])
    packed = gzip.compress((src / GAL_INFO_NAME).read_bytes())
    (tmp_path / "cut.fit.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(Rejected, match="truncated"):
        validate_dr7_file(tmp_path / "cut.fit.gz", ["PLATEID"])


# --- ugriz cutouts from frames -------------------------------------------------------

class FrameServer(FaultServer):
    """Serves mock calibrated frames (bz2) for fields listed in ``fields``:
    (run, camcol, field) -> frame centre (ra, dec)."""

    fields: dict = {}
    service = None
    cache: dict = {}

    def route(self, path, params, range_header):
        m = re.fullmatch(r"/sas/dr17/eboss/photoObj/frames/301/(\d+)/(\d)/"
                         r"frame-([ugriz])-(\d{6})-(\d)-(\d{4})\.fits\.bz2", path)
        if not m:
            return "other", lambda: (404, b"Not Found\n", {})
        key = (int(m.group(1)), int(m.group(2)), int(m.group(6)))
        if key not in self.fields:
            return "frame", lambda: (404, b"Not Found\n", {})

        def answer():
            if path not in self.cache:
                ra, dec = self.fields[key]
                self.cache[path] = bz2.compress(
                    self.service.frame_bytes(ra, dec, m.group(3), size=110))
            return 200, self.cache[path], {}
        return "frame", answer


@pytest.fixture(scope="module")
def image_service(mock_root):
    from galstar.mock.sdss_images import MockSdssImageService

    return MockSdssImageService(mock_root)


def test_ugriz_cutouts_from_frames_through_faults(mock_root, image_service, tmp_path):
    from galstar.archives.sdss_images import Field, fetch_sdss_images

    galspec = read_mock_mpajhu(mock_root / MOCK_GALSPEC)
    gal = galspec[galspec["spectrotype"] == "GALAXY"].iloc[:5].reset_index(drop=True)
    targets = pd.DataFrame({"object_id": gal["specObjID"], "ra": gal["ra"], "dec": gal["dec"]})
    located = {}
    fields = {}
    for i, t in enumerate(targets.itertuples()):
        if i == 4:
            continue  # no photometric object: the locator finds nothing
        f = Field(1000 + i, 3, 100 + i)
        located[t.object_id] = f
        shift = 40.0 if i == 3 else 3.3  # arcsec: object 3 sits near its frame's edge
        fields[(f.run, f.camcol, f.field)] = (t.ra + shift / 3600.0 / np.cos(np.radians(t.dec)),
                                              t.dec - 2.1 / 3600.0)
    by_pos = {(round(t.ra, 9), round(t.dec, 9)): located.get(t.object_id)
              for t in targets.itertuples()}
    srv = FrameServer(plan=FaultPlan(rate=0.3, kinds=KINDS, seed=8, timeout_s=1.8))
    srv.fields, srv.service, srv.cache = fields, image_service, {}
    srv.start()
    try:
        def locate(ra, dec):
            return by_pos[(round(ra, 9), round(dec, 9))]

        manifest = fetch_sdss_images(targets, tmp_path / "img", base_url=srv.base_url,
                                     locate=locate, concurrency=3, seed=2, **FAST)
        assert manifest["status"].tolist() == ["ok", "ok", "ok", "failed", "failed"]
        assert manifest["reject_reason"][3].startswith("frame_edge")
        assert manifest["reject_reason"][4].startswith("no_field")
        assert srv.stats.total_faults > 0 and srv.stats.requests["frame"] >= 20
        for t, path in zip(targets.itertuples(), manifest["path"][:3], strict=False):
            with fits.open(path) as h:
                cube = h[0].data
                assert cube.shape == (5, 64, 64) and h[0].header["BANDS"] == "ugriz"
            direct = image_service.image(t.ra, t.dec, 64, noise=False)
            for k in range(5):
                # the cut-and-resampled frame is the noiseless scene plus pixel noise:
                # fluxes agree within the noise, residuals are noise-sized everywhere
                sigma = image_service.sigma[k]
                inner = np.s_[22:42, 22:42]
                diff = cube[k][inner].sum() - direct[k][inner].sum()
                assert abs(diff) < 0.02 * direct[k][inner].sum() + 5 * 20 * sigma
                resid = np.std(cube[k] - direct[k])
                assert 0.5 * sigma < resid < 1.2 * sigma, (k, resid / sigma)
        before = srv.stats.total_requests
        again = fetch_sdss_images(targets.iloc[:3], tmp_path / "img", base_url=srv.base_url,
                                  locate=locate, **FAST)
        assert (again["status"] == "ok").all() and srv.stats.total_requests == before
    finally:
        srv.stop()


def test_frame_validation(mock_root, image_service, tmp_path):
    from galstar.archives.sdss_images import validate_frame

    body = bz2.compress(image_service.frame_bytes(160.0, 32.4, "r", size=40))
    (tmp_path / "ok.fits.bz2").write_bytes(body)
    assert validate_frame(tmp_path / "ok.fits.bz2") == (40, 40)
    for name, data, reason in (("cut.fits.bz2", body[: len(body) // 2], "truncated"),
                               ("page.fits.bz2", b"<html>busy</html>", "html_page")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(Rejected, match=reason):
            validate_frame(tmp_path / name)

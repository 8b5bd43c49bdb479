"""Live BT-Settl (Lyon, SVO) and CARMENES clients against a loopback server with faults.

The server (tests/http_faults.py) serves the stellar mock archive's own files: the grid
as a Lyon-style directory and through an SVO-style SSAP service, the CARMENES products
from a file list of URLs.
"""

from __future__ import annotations

import bz2
import io
import re
from urllib.parse import quote

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import from_table, writeto
from astropy.table import Table
from http_faults import FaultPlan, FaultServer

from galstar.archives.btsettl import (
    btsettl_filename,
    fetch_btsettl_lyon,
    fetch_btsettl_svo,
    validate_spec7,
)
from galstar.archives.carmenes import fetch_carmenes, read_file_list, validate_caracal
from galstar.archives.validate import Rejected
from galstar.mock.btsettl import DF
from galstar.mock.stellar import build_stellar_mock

NODES = [[3000.0, 5.0, 0.0], [3500.0, 4.5, -0.5], [4000.0, 5.5, 0.5]]
KINDS = ("500", "429", "timeout", "truncated", "html")
# Generous timeouts: a loaded CI machine must not turn slow answers into exhausted retries.
FAST = dict(max_retries=6, backoff_s=0.005, timeout_s=1.5, rate_per_s=None)


class StellarServer(FaultServer):
    """The fault server answering Lyon, SVO and CARMENES routes from a mock root."""

    def route(self, path, params, range_header):
        lyon = re.fullmatch(r"/lyon/SPECTRA/([^/]+)", path)
        if lyon:
            return "lyon", lambda: self._file(self.root / "btsettl" / lyon.group(1),
                                              range_header)
        if path == "/svo/ssap.php":
            return "ssap", lambda: (200, self._ssap(params), {"Content-Type": "text/xml"})
        if path == "/svo/getspec.php":
            return "getspec", lambda: self._getspec(params.get("fid", ""))
        carm = re.fullmatch(r"/carmenes/(J[^/]+/car-[^/]+\.fits)", path)
        if carm:
            return "carmenes", lambda: self._file(self.root / "carmenes" / carm.group(1),
                                                  range_header)
        return "other", lambda: (404, b"Not Found\n", {})

    def _ssap(self, params) -> bytes:
        name = btsettl_filename(float(params["teff_min"]), float(params["logg_min"]),
                                float(params["meta_min"]))
        have = (self.root / "btsettl" / name).is_file()
        table = Table({"teff": [float(params["teff_min"])] if have else [],
                       "Spectrum": [f"getspec.php?fid={quote(name)}"] if have else []},
                      dtype=[float, str])
        vot = from_table(table)
        vot.get_first_table().get_field_by_id("Spectrum").ucd = "meta.ref.url"
        out = io.BytesIO()
        writeto(vot, out)
        return out.getvalue()

    def _getspec(self, fid: str):
        path = self.root / "btsettl" / fid
        if not path.is_file():
            return 404, b"Not Found\n", {}
        table = np.loadtxt(path.read_bytes().replace(b"D", b"E").splitlines())
        wave, first = np.unique(table[:, 0], return_index=True)
        flux = 10 ** (table[first, 1] + DF)
        text = "# BT-Settl (mock SVO)\n# wavelength [A]  flux [erg/s/cm2/A]\n" + "".join(
            f"{w:.4f} {f:.6e}\n" for w, f in zip(wave, flux, strict=True))
        return 200, text.encode(), {"Content-Type": "text/plain"}


@pytest.fixture(scope="module")
def mock_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("stellar_archive")
    build_stellar_mock(root, 4, seed=11, vis_orders=[30], nir_orders=[12], grid_subset=NODES,
                       wrong_shape_fraction=0.0, nan_order_fraction=0.0)
    return root


@pytest.fixture
def server(mock_root):
    started = []

    def start(rate: float = 0.0, seed: int = 0) -> StellarServer:
        srv = StellarServer(root=mock_root, plan=FaultPlan(rate=rate, kinds=KINDS, seed=seed,
                                                           timeout_s=1.8)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def test_lyon_grid_downloads_through_faults_identical(server, mock_root, tmp_path):
    srv = server(rate=0.45, seed=2)
    wanted = [*NODES, [2300.0, 4.0, -1.0]]  # the last one is not on the server
    base = f"{srv.base_url}/lyon/SPECTRA"
    manifest = fetch_btsettl_lyon(wanted, tmp_path / "grid", base_url=base, compressed=False,
                                  concurrency=3, seed=1, **FAST)
    assert manifest["status"].tolist() == ["ok", "ok", "ok", "failed"]
    assert manifest["reject_reason"].iloc[3] == "http_404"
    assert srv.stats.total_faults > 0 and srv.stats.max_in_flight <= 3
    for _, row in manifest.iloc[:3].iterrows():
        name = btsettl_filename(row["teff"], row["logg"], row["mh"])
        got = (tmp_path / "grid" / name).read_bytes()
        assert got == (mock_root / "btsettl" / name).read_bytes()
    before = srv.stats.total_requests
    again = fetch_btsettl_lyon(NODES, tmp_path / "grid", base_url=base, compressed=False,
                               concurrency=3, seed=1, **FAST)
    assert (again["attempts"] == 0).all() and srv.stats.total_requests == before  # resumed


def test_spec7_validation_names_what_is_wrong(mock_root):
    body = (mock_root / "btsettl" / btsettl_filename(*NODES[0])).read_bytes()
    info = validate_spec7(body, required_range_a=(7100.0, 12400.0))
    assert info.n_rows == len(body.splitlines())
    packed = bz2.compress(body)
    assert validate_spec7(packed).n_rows == info.n_rows
    cases = [(b"", "empty"), (b"<html><body>busy</body></html>", "html_page"),
             (body[: len(body) // 2 + 7], "truncated"), (packed[: len(packed) // 2], "truncated"),
             (b"wavelength flux\n" * 200, "not_spec7")]
    for bad, reason in cases:
        with pytest.raises(Rejected) as err:
            validate_spec7(bad)
        assert err.value.reason.startswith(reason)
    with pytest.raises(Rejected, match="short_coverage"):
        validate_spec7(body, required_range_a=(5000.0, 17000.0))


def test_svo_service_through_faults(server, tmp_path):
    srv = server(rate=0.3, seed=4)
    wanted = [NODES[0], NODES[2], [2300.0, 4.0, -1.0]]
    manifest = fetch_btsettl_svo(wanted, tmp_path / "svo", base_url=f"{srv.base_url}/svo",
                                 concurrency=2, seed=2, **FAST)
    assert manifest["status"].tolist() == ["ok", "ok", "failed"]
    assert manifest["reject_reason"].iloc[2].startswith("no_model")
    table = np.loadtxt(manifest["path"].iloc[0])
    assert table.shape[1] == 2 and np.all(np.diff(table[:, 0]) > 0)
    assert 1e3 < np.median(table[:, 1]) < 1e7  # linear F_lambda of a 3000 K dwarf
    assert srv.stats.requests["ssap"] >= 3 and srv.stats.requests["getspec"] >= 2


def test_carmenes_file_list_through_faults(server, mock_root, tmp_path):
    srv = server(rate=0.4, seed=6)
    rel = (mock_root / "carmenes" / "files.txt").read_text().split()
    listing = tmp_path / "carmenes_urls.txt"
    urls = [f"{srv.base_url}/{r}" for r in rel]
    missing = f"{srv.base_url}/carmenes/J00000+000/car-20160101T00h00m00s-sci-gtoc-vis_A.fits"
    listing.write_text("# CARMENES DR1 products\n" + "\n".join([*urls, missing]) + "\n")
    got = read_file_list(listing)
    assert len(got) == len(rel) + 1
    manifest = fetch_carmenes(got, tmp_path / "cache", concurrency=3, seed=3,
                              **{k: v for k, v in FAST.items()})
    assert (manifest["status"] == "ok").sum() == len(rel)
    assert manifest["reject_reason"].iloc[-1] == "http_404"
    assert srv.stats.total_faults > 0
    for r, path in zip(rel, manifest["path"].iloc[:-1], strict=True):
        assert open(path, "rb").read() == (mock_root / r).read_bytes()
        assert validate_caracal(path).form == "image"


def test_carmenes_resumes_a_partial_download(server, mock_root, tmp_path):
    srv = server()
    rel = (mock_root / "carmenes" / "files.txt").read_text().split()[0]
    data = (mock_root / rel).read_bytes()
    dest = tmp_path / "cache" / rel.split("/")[-2] / rel.split("/")[-1]
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(data[: len(data) // 3])
    manifest = fetch_carmenes([f"{srv.base_url}/{rel}"], tmp_path / "cache", **FAST)
    assert manifest["status"].iloc[0] == "ok" and dest.read_bytes() == data
    assert srv.stats.requests["carmenes"] == 1  # one Range request for the rest


def test_caracal_validation_rejects_missing_wave_and_truncation(mock_root, tmp_path):
    rel = (mock_root / "carmenes" / "files.txt").read_text().split()[0]
    with fits.open(mock_root / rel) as hdul:
        no_wave = fits.HDUList([h.copy() for h in hdul if h.name != "WAVE"])
        no_wave.writeto(tmp_path / "no_wave.fits")
    with pytest.raises(Rejected) as err:
        validate_caracal(tmp_path / "no_wave.fits")
    assert err.value.reason.startswith("missing_extension") and err.value.permanent
    data = (mock_root / rel).read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) - 5000])
    with pytest.raises(Rejected, match="truncated"):
        validate_caracal(tmp_path / "cut.fits")
    table = fits.BinTableHDU.from_columns([fits.Column("WAVE", "D", array=np.arange(5.0)),
                                           fits.Column("SPEC", "E", array=np.ones(5))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "table.fits")
    assert validate_caracal(tmp_path / "table.fits").form == "table"

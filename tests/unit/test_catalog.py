"""Stage 2: cuts, streamed cross-match, de-duplication, shards and splits.

Hand-built tables with known answers first; then the mock archive scored against truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.catalog import (
    CUT_NAMES,
    apply_cuts,
    assign_shards,
    assign_splits,
    build_catalog,
    deduplicate,
    match_streaming,
    object_id_from_dr9,
    paper_cuts,
    run_crossmatch,
    score_matches,
)
from galstar.catalog.crossmatch import DR9_COLUMNS, read_sweep_list
from galstar.catalog.figures import plot_separation
from galstar.catalog.samples import dr9_from_object_id
from galstar.io import read_parquet

ARCSEC = 1.0 / 3600.0
PARAMS = dict(
    radius_arcsec=3.0,
    chunk_rows=100_000,
    sn_median_r_min=5.0,
    lgm_range=(5.0, 13.0),
    specsfr_range=(-16.0, -6.0),
    dedup_radius_arcsec=1.0,
    n_shards=4,
    split={"train": 6, "val": 1, "test": 3},
    seed=3407,
)


def mpa_row(spec_id: int, ra: float, dec: float, **over) -> dict:
    """A spectrum that passes every cut unless ``over`` says otherwise."""
    row = dict(
        specObjID=spec_id, plateid=266, mjd=51602, fiberid=spec_id % 640, ra=ra, dec=dec,
        spectrotype="GALAXY", reliable=1, z=0.1, z_warning=0, sn_median_r=12.0,
        lgm_fib_p50=10.2, specsfr_fib_p50=-10.5, lgm_tot_p50=10.6, sfr_tot_p50=0.3,
    )
    row.update(over)
    return row


def offset(ra: float, dec: float, east_arcsec: float, north_arcsec: float = 0.0):
    """Position moved by the given on-sky offsets (small-angle)."""
    return (ra + east_arcsec * ARCSEC / np.cos(np.deg2rad(dec)), dec + north_arcsec * ARCSEC)


def write_sweep(path, rows: list[dict]) -> str:
    """Write a DR9-like sweep BINTABLE with every contract column (big-endian, as FITS)."""
    n = len(rows)
    get = lambda key, default: np.array([r.get(key, default) for r in rows])  # noqa: E731
    cols = [
        fits.Column("RELEASE", "I", array=get("RELEASE", 9010).astype(np.int16)),
        fits.Column("BRICKID", "J", array=get("BRICKID", 1000).astype(np.int32)),
        fits.Column("OBJID", "J", array=get("OBJID", 0).astype(np.int32)),
        fits.Column("TYPE", "3A", array=get("TYPE", "EXP")),
        fits.Column("RA", "D", array=get("RA", 0.0)),
        fits.Column("DEC", "D", array=get("DEC", 0.0)),
    ]
    for name in DR9_COLUMNS:
        if name in {"RELEASE", "BRICKID", "OBJID", "TYPE", "RA", "DEC"}:
            continue
        if name.startswith("NOBS") or name == "MASKBITS":
            cols.append(fits.Column(name, "I", array=np.full(n, 3, dtype=np.int16)))
        else:
            cols.append(fits.Column(name, "E", array=np.full(n, 1.5, dtype=np.float32)))
    fits.BinTableHDU.from_columns(cols).writeto(path)
    return str(path)


@pytest.fixture
def handmade(tmp_path):
    """Spectra and two sweep files (north, south) with known answers.

    Galaxies sit on a 1-arcmin grid so that only the sources placed on purpose compete.
    """
    spectra, north, south = [], [], []
    pairs = []  # (specObjID, RELEASE, BRICKID, OBJID) true counterparts
    objid = iter(range(1, 10_000))

    def source(region: list, ra, dec, release=9010, **kw) -> tuple[int, int, int]:
        ident = (release, 1000 if release == 9010 else 2000, next(objid))
        region.append(dict(RELEASE=ident[0], BRICKID=ident[1], OBJID=ident[2], RA=ra,
                           DEC=dec, **kw))
        return ident

    grid = iter((150.0 + k * 60 * ARCSEC, 2.0) for k in range(1000))
    sid = iter(range(100, 100_000))

    # 20 plain galaxies: true counterpart 0.3" away
    for _ in range(20):
        ra, dec = next(grid)
        s = next(sid)
        spectra.append(mpa_row(s, ra, dec))
        pairs.append((s, *source(south, *offset(ra, dec, 0.3))))
    # decoy: a brighter neighbour at 2.5" and the true source at 0.3"
    ra, dec = next(grid)
    s_decoy = next(sid)
    spectra.append(mpa_row(s_decoy, ra, dec))
    decoy = source(south, *offset(ra, dec, -2.5))
    pairs.append((s_decoy, *source(south, *offset(ra, dec, 0.0, 0.3))))
    # only DR9 source just outside the radius (3.2"): no match
    ra, dec = next(grid)
    s_outside = next(sid)
    spectra.append(mpa_row(s_outside, ra, dec))
    source(south, *offset(ra, dec, 0.0, 3.2))
    # only DR9 source just inside (2.9"): matched
    ra, dec = next(grid)
    s_inside = next(sid)
    spectra.append(mpa_row(s_inside, ra, dec))
    pairs.append((s_inside, *source(south, *offset(ra, dec, 0.0, 2.9))))
    # repeat spectra of one galaxy (S/N 8 and 20): keep the S/N 20 one
    ra, dec = next(grid)
    s_rep_lo, s_rep_hi = next(sid), next(sid)
    spectra.append(mpa_row(s_rep_lo, *offset(ra, dec, 0.2), sn_median_r=8.0))
    spectra.append(mpa_row(s_rep_hi, *offset(ra, dec, -0.2), sn_median_r=20.0))
    rep = source(south, ra, dec)
    pairs += [(s_rep_lo, *rep), (s_rep_hi, *rep)]
    # north/south duplicate, two spectra each nearer to a different copy
    ra, dec = next(grid)
    s_ns_a, s_ns_b = next(sid), next(sid)
    spectra.append(mpa_row(s_ns_a, *offset(ra, dec, -0.25), sn_median_r=30.0))
    spectra.append(mpa_row(s_ns_b, *offset(ra, dec, 0.25), sn_median_r=9.0))
    ns_south = source(south, *offset(ra, dec, -0.1))
    ns_north = source(north, *offset(ra, dec, 0.1), release=9011)
    pairs += [(s, *ident) for s in (s_ns_a, s_ns_b) for ident in (ns_south, ns_north)]
    # a galaxy listed north and south with a single spectrum
    ra, dec = next(grid)
    s_ns_single = next(sid)
    spectra.append(mpa_row(s_ns_single, ra, dec))
    pairs.append((s_ns_single, *source(north, *offset(ra, dec, 0.4), release=9011)))
    pairs.append((s_ns_single, *source(south, *offset(ra, dec, 0.35))))
    # rows failing each cut (first failed cut in the comment); all have a DR9 source
    failing = [
        ("spectrotype", dict(spectrotype="STAR")),
        ("spectrotype", dict(spectrotype="QSO", reliable=0)),  # fails two: first counts
        ("spectrotype", dict(spectrotype=b"STAR  ")),
        ("reliable", dict(reliable=0)),
        ("reliable", dict(reliable=0, z=-1.0)),
        ("z_positive", dict(z=0.0)),
        ("z_positive", dict(z=np.nan)),
        ("z_warning", dict(z_warning=4)),
        ("sn_median_r", dict(sn_median_r=4.99)),
        ("sn_median_r", dict(sn_median_r=-1.0)),
        ("valid_mass_ssfr", dict(lgm_fib_p50=-9999.0)),
        ("valid_mass_ssfr", dict(specsfr_fib_p50=-99.0)),
        ("valid_mass_ssfr", dict(specsfr_fib_p50=-1.0)),
        ("valid_mass_ssfr", dict(lgm_fib_p50=np.nan)),
        ("valid_mass_ssfr", dict(lgm_fib_p50=14.2)),
    ]
    expected_reason = {}
    for reason, over in failing:
        ra, dec = next(grid)
        s = next(sid)
        spectra.append(mpa_row(s, ra, dec, **over))
        source(south, *offset(ra, dec, 0.3))
        expected_reason[s] = reason
    # field sources without a spectrum
    for _ in range(30):
        ra, dec = next(grid)
        source(south, ra, dec + 30 * ARCSEC)

    mpa = pd.DataFrame(spectra).sample(frac=1.0, random_state=1).reset_index(drop=True)
    sweeps = [write_sweep(tmp_path / "sweep-north.fits", north),
              write_sweep(tmp_path / "sweep-south.fits", south)]
    return dict(
        mpa=mpa, sweeps=sweeps, tmp=tmp_path, expected_reason=expected_reason,
        pairs=pd.DataFrame(pairs, columns=["specObjID", "RELEASE", "BRICKID", "OBJID"]),
        decoy=decoy, s_decoy=s_decoy, s_outside=s_outside, s_inside=s_inside,
        s_rep=(s_rep_lo, s_rep_hi), s_ns=(s_ns_a, s_ns_b), s_ns_single=s_ns_single,
        n_pass=20 + 1 + 1 + 1 + 2 + 2 + 1,
    )


def test_cutflow_counts_and_first_failed_cut(handmade):
    mpa = handmade["mpa"]
    result = apply_cuts(mpa, paper_cuts(5.0, (5.0, 13.0), (-16.0, -6.0)))
    assert result.cutflow["step"].tolist() == ["input", *CUT_NAMES]
    n = len(mpa)
    assert result.cutflow["rows"].tolist() == [n, n - 3, n - 5, n - 7, n - 8, n - 10, n - 15]
    reasons = dict(zip(mpa["specObjID"], result.reject_reason, strict=True))
    for spec_id, reason in handmade["expected_reason"].items():
        assert reasons[spec_id] == reason, spec_id
    assert int(result.passed.sum()) == handmade["n_pass"]


def test_best_match_nearest_within_radius(handmade):
    passed = handmade["mpa"][apply_cuts(
        handmade["mpa"], paper_cuts(5.0, (5.0, 13.0), (-16.0, -6.0))).passed]
    m = match_streaming(passed, handmade["sweeps"], 3.0, chunk_rows=4).set_index("specObjID")
    decoy_row = m.loc[handmade["s_decoy"]]
    assert decoy_row["matched"] and decoy_row["n_candidates"] == 2
    assert decoy_row["OBJID"] != handmade["decoy"][2]
    assert decoy_row["sep_arcsec"] == pytest.approx(0.3, abs=1e-6)
    assert not m.loc[handmade["s_outside"], "matched"]
    assert m.loc[handmade["s_outside"], "RELEASE"] == -1
    assert np.isnan(m.loc[handmade["s_outside"], "sep_arcsec"])
    assert m.loc[handmade["s_inside"], "sep_arcsec"] == pytest.approx(2.9, abs=1e-6)
    assert m.loc[handmade["s_inside"], "TYPE"] == "EXP"
    score = score_matches(m.reset_index(), handmade["pairs"])
    assert score["n_matched"] == handmade["n_pass"] - 1  # all but the one outside
    assert score["completeness"] == 1.0 and score["purity"] == 1.0


def test_chunk_size_does_not_change_the_result(handmade):
    mpa = handmade["mpa"]
    tiny = match_streaming(mpa, handmade["sweeps"], 3.0, chunk_rows=1)
    small = match_streaming(mpa, handmade["sweeps"], 3.0, chunk_rows=7)
    whole = match_streaming(mpa, handmade["sweeps"], 3.0, chunk_rows=10**6)
    pd.testing.assert_frame_equal(tiny, whole)
    pd.testing.assert_frame_equal(small, whole)
    # every passing spectrum and every cut-failing one has a source 0.3" or nearer
    assert int(whole["matched"].sum()) == len(mpa) - 1


def test_exact_tie_goes_to_the_first_file_and_row(tmp_path):
    mpa = pd.DataFrame([mpa_row(1, 10.0, 0.0)])
    # mirror-symmetric positions: bit-identical distances
    a = write_sweep(tmp_path / "a.fits", [dict(OBJID=5, RA=10.0, DEC=ARCSEC),
                                          dict(OBJID=6, RA=10.0, DEC=-ARCSEC)])
    b = write_sweep(tmp_path / "b.fits", [dict(OBJID=7, RA=10.0, DEC=ARCSEC)])
    for chunk in (1, 2, 10):
        out = match_streaming(mpa, [a, b], 3.0, chunk_rows=chunk)
        assert out.loc[0, "OBJID"] == 5 and out.loc[0, "n_candidates"] == 3
        assert out.loc[0, "sweep_file"] == "a.fits"


def test_deduplication_on_both_sides(handmade):
    build = build_catalog(handmade["mpa"], handmade["sweeps"], **PARAMS)
    cat, rej = build.catalog, build.rejects
    # 20 plain + decoy + inside + repeat pair (1) + N/S pair (1) + N/S single (1)
    assert len(cat) == 25
    assert cat["object_id"].is_unique and cat["object_id"].is_monotonic_increasing
    assert cat["specObjID"].is_unique
    lo, hi = handmade["s_rep"]
    assert hi in set(cat["specObjID"]) and lo not in set(cat["specObjID"])
    a, b = handmade["s_ns"]
    assert a in set(cat["specObjID"]) and b not in set(cat["specObjID"])
    dup = rej.set_index("specObjID")
    assert dup.loc[lo, "reject_reason"] == "duplicate_spectrum"
    assert dup.loc[lo, "duplicate_of"] == cat.set_index("specObjID").loc[hi, "object_id"]
    # b matched the other DR9 copy: its own object_id differs from the kept one
    assert dup.loc[b, "object_id"] != dup.loc[b, "duplicate_of"]
    assert dup.loc[b, "duplicate_of"] == cat.set_index("specObjID").loc[a, "object_id"]
    assert dup.loc[handmade["s_outside"], "reject_reason"] == "no_match"
    for spec_id, reason in handmade["expected_reason"].items():
        assert dup.loc[spec_id, "reject_reason"] == reason
    assert len(cat) + len(rej) == len(handmade["mpa"])
    flow = dict(zip(build.cutflow["step"], build.cutflow["rows"], strict=True))
    assert list(flow)[-3:] == ["crossmatch", "dedup_spectra", "dedup_dr9"]
    assert (flow["crossmatch"], flow["dedup_spectra"], flow["dedup_dr9"]) == (27, 26, 25)
    # every catalogue match is a true pair
    key = ["specObjID", "RELEASE", "BRICKID", "OBJID"]
    assert len(cat[key].astype("int64").merge(handmade["pairs"], on=key)) == len(cat)


def test_object_id_roundtrip_and_limits():
    release = np.array([9010, 9011, 9012])
    brick = np.array([0, 662174, 331000])
    obj = np.array([0, 1234, 9_999_999])
    oid = object_id_from_dr9(release, brick, obj)
    assert oid.dtype == np.int64
    assert oid[1] == 901106621740001234
    for got, want in zip(dr9_from_object_id(oid), (release, brick, obj), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="OBJID"):
        object_id_from_dr9([9010], [1], [10**7])
    with pytest.raises(ValueError, match="BRICKID"):
        object_id_from_dr9([9010], [-1], [1])


def test_shards_and_splits_deterministic_disjoint_and_in_ratio():
    rng = np.random.default_rng(0)
    oid = object_id_from_dr9(rng.choice([9010, 9011], 5000), rng.integers(0, 662174, 5000),
                             rng.integers(0, 20000, 5000))
    oid = np.unique(oid)
    ratios = {"train": 6, "val": 1, "test": 3}
    split = assign_splits(oid, ratios, seed=3407)
    np.testing.assert_array_equal(split, assign_splits(oid[::-1], ratios, seed=3407)[::-1])
    frac = {s: float(np.mean(split == s)) for s in ("train", "val", "test")}
    assert frac["train"] == pytest.approx(0.6, abs=0.03)
    assert frac["val"] == pytest.approx(0.1, abs=0.02)
    assert frac["test"] == pytest.approx(0.3, abs=0.03)
    other = assign_splits(oid, ratios, seed=1)
    assert 0.3 < np.mean(other != split) < 0.7  # the seed matters
    shard = assign_shards(oid, 4, seed=3407)
    assert shard.dtype == np.int16 and set(shard) == {0, 1, 2, 3}
    assert np.bincount(shard).min() > 0.2 * len(oid)
    # shard and split are independent streams: each shard holds all splits in ratio
    for k in range(4):
        assert np.mean(split[shard == k] == "train") == pytest.approx(0.6, abs=0.05)
    with pytest.raises(ValueError, match="galaxies.crossmatch.split"):
        assign_splits(oid, {"train": 1, "test": 1}, seed=0)


def test_run_crossmatch_writes_contract_outputs(handmade):
    tmp = handmade["tmp"]
    mpa_path = tmp / "mpajhu.parquet"
    handmade["mpa"].astype({"spectrotype": str}).to_parquet(mpa_path)
    (tmp / "dr9_sweeps.txt").write_text("# sweeps\n" + "\n".join(handmade["sweeps"]) + "\n\n")
    shards = [tmp / "shards" / f"shard-{k:03d}.parquet" for k in range(4)]
    run_crossmatch(mpa_path, tmp / "dr9_sweeps.txt", tmp / "crossmatch.parquet",
                   tmp / "cutflow.csv", tmp / "rejects.parquet", shards, **PARAMS)
    cat = read_parquet(tmp / "crossmatch.parquet")
    assert len(cat) == 25
    assert cat.columns[:4].tolist() == ["object_id", "shard", "split", "sep_arcsec"]
    assert str(cat["shard"].dtype) == "int16" and str(cat["object_id"].dtype) == "int64"
    parts = [read_parquet(p) for p in shards]
    for k, part in enumerate(parts):
        assert (part["shard"] == k).all() and part["object_id"].is_monotonic_increasing
    assert sum(map(len, parts)) == len(cat)
    flow = pd.read_csv(tmp / "cutflow.csv")
    assert flow.columns.tolist() == ["step", "rows"] and flow["rows"].iloc[-1] == 25
    assert len(read_parquet(tmp / "rejects.parquet")) == len(handmade["mpa"]) - 25
    assert not list(tmp.glob(".*"))  # no temporary files left behind
    with pytest.raises(ValueError, match="shards"):
        run_crossmatch(mpa_path, tmp / "dr9_sweeps.txt", tmp / "x.parquet", tmp / "x.csv",
                       tmp / "r.parquet", shards[:3], **PARAMS)


def test_missing_columns_name_the_file_and_column(handmade):
    tmp = handmade["tmp"]
    bad = tmp / "mpajhu_bad.parquet"
    handmade["mpa"].drop(columns=["z_warning"]).astype({"spectrotype": str}).to_parquet(bad)
    (tmp / "list.txt").write_text("\n".join(handmade["sweeps"]))
    shards = [tmp / f"shard-{k:03d}.parquet" for k in range(4)]
    with pytest.raises(KeyError, match=r"mpajhu_bad\.parquet.*z_warning"):
        run_crossmatch(bad, tmp / "list.txt", tmp / "c.parquet", tmp / "c.csv",
                       tmp / "r.parquet", shards, **PARAMS)
    sweep = tmp / "sweep-noflux.fits"
    with fits.open(handmade["sweeps"][1]) as hdul:
        cols = [c for c in hdul[1].columns if c.name != "FLUX_R"]
        fits.BinTableHDU.from_columns(cols).writeto(sweep)
    with pytest.raises(KeyError, match=r"sweep-noflux\.fits.*FLUX_R"):
        match_streaming(handmade["mpa"], [str(sweep)], 3.0, 100)
    (tmp / "list2.txt").write_text(f"{handmade['sweeps'][0]}\n{tmp}/nope.fits\n")
    with pytest.raises(FileNotFoundError, match=r"list2\.txt, line 2.*nope\.fits"):
        read_sweep_list(tmp / "list2.txt")
    assert not (tmp / "c.parquet").exists()


def test_separation_plot(tmp_path):
    out = tmp_path / "sep.png"
    plot_separation(np.array([0.1, 0.3, 0.35, np.nan, 2.9]), 3.0, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_crossmatch_reports_throughput(repo, monkeypatch):
    monkeypatch.syspath_prepend(str(repo / "bench"))
    from crossmatch_speed import benchmark_crossmatch

    result = benchmark_crossmatch(n_mpa=2000, n_dr9=20000, seed=7)
    assert result["completeness"] >= 0.995
    assert result["dr9_rows_per_s_per_core"] > 1e4
    assert result["n_dr9"] == 20000


def test_dedup_keeps_distinct_neighbours_apart():
    """Two different galaxies 2" apart (a blend) are not merged by a 1" dedup radius."""
    rows = pd.DataFrame({
        "specObjID": [1, 2], "sn_median_r": [10.0, 20.0], "sep_arcsec": [0.2, 0.2],
        "RELEASE": [9010, 9010], "BRICKID": [5, 5], "OBJID": [1, 2],
        "RA": [20.0, 20.0 + 2 * ARCSEC], "DEC": [0.0, 0.0],
    })
    assert len(deduplicate(rows, 1.0).galaxies) == 2
    assert len(deduplicate(rows, 2.5).galaxies) == 1


@pytest.fixture(scope="module")
def mock_stage2(tmp_path_factory):
    """A small mock archive taken through Stage 1 (mock) and Stage 2 as the rules do."""
    mock = pytest.importorskip("galstar.mock")
    acquire = pytest.importorskip("galstar.mock.sources")
    tmp = tmp_path_factory.mktemp("mock_stage2")
    root = tmp / "archive"
    mock.build_mock_archive(root, n_galaxies=2000, n_stars=200, n_field=2000, seed=11)
    mpa_path, sweep_list = tmp / "mpajhu.parquet", tmp / "dr9_sweeps.txt"
    acquire.fetch_mpajhu("mock", mpa_path, mock_table=root / "skyserver" / "galSpec.fits")
    acquire.fetch_dr9_sweeps("mock", mpa_path, sweep_list, mock_root=root)
    shards = [tmp / "shards" / f"shard-{k:03d}.parquet" for k in range(4)]
    build = run_crossmatch(mpa_path, sweep_list, tmp / "crossmatch.parquet",
                           tmp / "cutflow.csv", tmp / "rejects.parquet", shards,
                           **{**PARAMS, "chunk_rows": 500})
    return dict(
        build=build, mpa=read_parquet(mpa_path), sweeps=read_sweep_list(sweep_list),
        spectra=read_parquet(root / "truth" / "spectra.parquet"),
        pairs=read_parquet(root / "truth" / "pairs.parquet"),
    )


def test_mock_crossmatch_completeness_and_purity(mock_stage2):
    mpa = mock_stage2["mpa"]
    passed = mpa[apply_cuts(mpa, paper_cuts(5.0, (5.0, 13.0), (-16.0, -6.0))).passed]
    matches = match_streaming(passed, mock_stage2["sweeps"], 3.0, chunk_rows=500)
    score = score_matches(matches, mock_stage2["pairs"])
    assert score["n_with_counterpart"] > 1500
    assert score["completeness"] >= 0.995, score
    assert score["purity"] >= 0.995, score


def test_mock_cutflow_equals_truth(mock_stage2):
    spectra, flow = mock_stage2["spectra"], mock_stage2["build"].cutflow
    assert len(spectra) == len(mock_stage2["mpa"])
    first_fail = spectra["expected_cut"].to_numpy()
    expected = [len(spectra)]
    for k in range(len(CUT_NAMES)):
        expected.append(int((~np.isin(first_fail, CUT_NAMES[: k + 1])).sum()))
    got = flow.set_index("step").loc[["input", *CUT_NAMES], "rows"].tolist()
    assert got == expected
    # and row by row: each reject is charged to the cut the simulator designed it to fail
    rej = mock_stage2["build"].rejects
    cut_rej = rej[rej["reject_reason"].isin(CUT_NAMES)].merge(spectra, on="specObjID")
    assert (cut_rej["reject_reason"] == cut_rej["expected_cut"]).all()


def test_mock_one_row_per_galaxy_and_splits_disjoint(mock_stage2):
    build, spectra = mock_stage2["build"], mock_stage2["spectra"]
    cat = build.catalog.merge(spectra[["specObjID", "galaxy_id", "is_primary"]],
                              on="specObjID", how="left", validate="one_to_one")
    assert (cat["galaxy_id"] > 0).all() and cat["galaxy_id"].is_unique
    want = set(spectra.loc[spectra["is_primary"] & spectra["has_dr9"], "specObjID"])
    got = set(cat["specObjID"])
    assert len(got ^ want) <= 0.005 * len(want), (len(got - want), len(want - got))
    # every dropped repeat spectrum points at the kept row of its own galaxy
    dups = build.rejects[build.rejects["reject_reason"] == "duplicate_spectrum"]
    assert len(dups) > 20
    dups = dups.merge(spectra[["specObjID", "galaxy_id"]], on="specObjID")
    kept = cat.set_index("object_id")
    assert (kept.loc[dups["duplicate_of"], "galaxy_id"].to_numpy()
            == dups["galaxy_id"].to_numpy()).all()
    # north/south duplicates were met and merged: some spectra matched a different copy
    assert (dups["object_id"] != dups["duplicate_of"]).any()
    frac = cat["split"].value_counts(normalize=True)
    assert frac["train"] == pytest.approx(0.6, abs=0.05)
    assert frac["test"] == pytest.approx(0.3, abs=0.05)


def test_match_across_ra_zero_and_dedup_radius_zero(tmp_path):
    """Positions either side of RA = 0/360 are 0.72" apart, not 360 deg."""
    mpa = pd.DataFrame([mpa_row(1, 359.9999, 10.0)])
    sweep = write_sweep(tmp_path / "wrap.fits", [dict(OBJID=3, RA=0.0001, DEC=10.0)])
    out = match_streaming(mpa, [sweep], 3.0, chunk_rows=10)
    assert out.loc[0, "matched"]
    assert out.loc[0, "sep_arcsec"] == pytest.approx(0.72 * np.cos(np.deg2rad(10.0)), rel=1e-6)
    assert len(deduplicate(out, 0.0).galaxies) == 1

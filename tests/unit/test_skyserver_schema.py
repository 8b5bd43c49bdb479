"""The live MPA-JHU query and the mock's galSpec.fits use only columns SkyServer has.

The schema table (tests/fixtures/skyserver_schema.csv) is written from the SkyServer
loader's definitions of galSpecInfo, galSpecExtra and SpecObjAll.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from skyserver_schema import skyserver_columns

from galstar.archives import skyserver as live

mock = pytest.importorskip("galstar.mock")

ALIASES = {"i": "galSpecInfo", "e": "galSpecExtra", "s": "SpecObjAll"}
_REF = re.compile(r"\b([ies])\.(\w+)")


def _referenced(sql: str) -> set[tuple[str, str]]:
    """Every ``<alias>.<column>`` of a query, as (SkyServer table, column)."""
    return {(ALIASES[a], c) for a, c in _REF.findall(sql)}


def test_schema_table_is_galspecextra_as_on_skyserver() -> None:
    schema = skyserver_columns()
    extra = set(schema["galSpecExtra"])
    assert len(schema["galSpecExtra"]) == 42 and len(schema["galSpecInfo"]) == 20
    assert not {c for c in extra if c.endswith(("_avg", "_mode"))}
    assert "lgm_tot_entropy" not in extra and "sfr_tot_entropy" in extra
    assert {"sn_median", "sectarget", "v_disp_err"} <= set(schema["galSpecInfo"])
    assert "sn_median_r" not in schema["galSpecInfo"]


def test_live_query_requests_only_skyserver_columns() -> None:
    schema = skyserver_columns()
    sql = live.mpajhu_page_sql(1000, 12345, live.mpajhu_where(True, 5.0))
    refs = _referenced(sql)
    missing = sorted(f"{t}.{c}" for t, c in refs if c not in schema[t])
    assert missing == []
    assert ("SpecObjAll", "snMedian_r") in refs
    # every fetched column comes from exactly one SkyServer column
    assert len(live.MPAJHU_COLUMNS) == len(set(live.MPAJHU_COLUMNS)) == 17 + 5 + 35
    assert _referenced(live.mpajhu_count_sql(live.mpajhu_where(True, 5.0))) <= refs


def _fetched_source(column: str) -> tuple[str, str]:
    """The SkyServer (table, column) the live query reads a fetched column from."""
    if column in live.SPECOBJ_SN_COLUMNS:
        return "SpecObjAll", live.SPECOBJ_SN_COLUMNS[column]
    if column in live.INFO_COLUMNS:
        return "galSpecInfo", column
    return "galSpecExtra", column


def test_mock_galspec_holds_exactly_the_fetched_skyserver_columns(tmp_path) -> None:
    from galstar.mock.settings import MockSettings
    from galstar.mock.skyserver import mpajhu_rows, read_mock_mpajhu, write_galspec
    from galstar.mock.universe import draw_universe

    settings = MockSettings.from_options()
    universe, truth, _ = draw_universe(30, 10, 10, 3, settings)
    galspec, _ = mpajhu_rows(universe, truth, 3, settings)
    write_galspec(galspec, tmp_path / "galSpec.fits")
    frame = read_mock_mpajhu(tmp_path / "galSpec.fits")
    assert len(frame) >= 30
    assert sorted(frame.columns) == sorted(live.MPAJHU_COLUMNS)
    schema = skyserver_columns()
    sources = [_fetched_source(c) for c in frame.columns]
    assert [f"{t}.{c}" for t, c in sources if c not in schema[t]] == []
    # the fetched table converts to Arrow page by page as the live client does
    from astropy.table import Table

    page = live.arrow_page(Table.from_pandas(frame))
    assert page.column_names == list(live.MPAJHU_COLUMNS)
    assert np.isfinite(frame["sfr_fib_entropy"]).all()


def test_loopback_skyserver_refuses_a_column_skyserver_lacks(tmp_path) -> None:
    from astropy.io import fits
    from astropy.table import Table
    from http_faults import skyserver_database

    table = Table({"specObjID": np.array([1, 2], np.int64), "z": [0.1, 0.2],
                   "sfr_tot_avg": [0.5, 0.6]})
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table)]).writeto(tmp_path / "g.fits")
    with pytest.raises(ValueError, match="sfr_tot_avg is in no SkyServer table"):
        skyserver_database(tmp_path / "g.fits")

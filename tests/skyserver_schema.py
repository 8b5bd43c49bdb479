"""SkyServer's columns of galSpecInfo, galSpecExtra and SpecObjAll, from the fixture table.

``fixtures/skyserver_schema.csv`` is written from the SkyServer loader's table
definitions; the loopback SkyServer and the schema tests read it so that neither the
mock nor the live query can use a column SkyServer does not have.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

SCHEMA_CSV = Path(__file__).resolve().parent / "fixtures" / "skyserver_schema.csv"


@cache
def skyserver_columns() -> dict[str, tuple[str, ...]]:
    """Columns per SkyServer table, in the loader's order."""
    with open(SCHEMA_CSV, newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        out: dict[str, list[str]] = {}
        for row in rows:
            out.setdefault(row["table"], []).append(row["column"])
    return {table: tuple(names) for table, names in out.items()}

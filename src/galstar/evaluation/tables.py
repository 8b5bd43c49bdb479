"""Tables as HTML pages that read in a browser (the Snakemake report shows them inline).

Any CSV table of the pipeline becomes one self-contained page: a title, the table with
numbers formatted per column (counts as integers, measurements to a fixed number of
decimals chosen from the column's magnitude) and the CSV itself as a download link, so
that the report needs no separate CSV entry. Pages are deterministic: the same table
gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.io import atomic_path

__all__ = ["format_column", "html_table", "html_page", "write_html_table"]

#: Most decimals a number is shown with.
_MAX_DECIMALS = 6

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em;
       color: #1f2933; }
h1 { font-size: 1.15em; margin: 0 0 0.3em 0; }
h2 { font-size: 1.0em; margin: 1.2em 0 0.4em 0; }
pre { background: #f7fafc; padding: 0.6em; font-size: 0.85em; overflow: auto; }
p.caption { margin: 0 0 0.8em 0; color: #52606d; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #d9e2ec; white-space: nowrap; }
th { background: #f0f4f8; text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f7fafc; }
p.source { margin-top: 0.8em; font-size: 0.85em; color: #52606d; }
"""


def _decimals(values: np.ndarray) -> int:
    """Decimals of a float column: as few as show every value exactly (edges 0, 2, 6.5:
    one), else enough for the column's largest value, 3 below 10 (0.147 dex, 1.234),
    then one fewer per decade (10.53, 123.4, 5325), more below 0.001 (0.00123)."""
    finite = values[np.isfinite(values)]
    nonzero = np.abs(finite[finite != 0])
    if nonzero.size == 0:
        return 0
    top = int(math.floor(math.log10(float(nonzero.max()))))
    significant = 2 - top if top <= -3 else max(0, 3 - max(top, 0))
    for exact in range(_MAX_DECIMALS + 1):
        if exact >= significant or np.allclose(finite, np.round(finite, exact), rtol=0,
                                               atol=1e-9 * max(1.0, float(nonzero.max()))):
            return min(exact, _MAX_DECIMALS)
    return _MAX_DECIMALS


def _number(value: float, decimals: int) -> str:
    """One number; thousands separators from 10,000 on (5325, but 12,345)."""
    if np.isnan(value):
        return ""
    if not np.isfinite(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.{decimals}f}" if abs(value) >= 1e4 else f"{value:.{decimals}f}"


def format_column(column: pd.Series) -> list[str]:
    """Display strings of one table column.

    Numbers of a column share one number of decimals (:func:`_decimals`), so that they
    line up: integers and whole counts read back as floats have none; missing values
    are an empty cell; booleans ``yes``/``no``; anything else its text.

    Parameters
    ----------
    column : pandas.Series
        One column of a table.

    Returns
    -------
    list of str
        One string per row.
    """
    if pd.api.types.is_bool_dtype(column):
        return ["yes" if v else "no" for v in column]
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
        digits = 0 if pd.api.types.is_integer_dtype(column) else _decimals(values)
        return [_number(v, digits) for v in values]
    return ["" if pd.isna(v) else str(v) for v in column]


def html_table(table: pd.DataFrame) -> str:
    """The ``<table>`` element of ``table`` (header row from its columns, no index);
    numeric cells are right-aligned."""
    numeric = [pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c]) for c in table.columns]
    cells = [format_column(table[c]) for c in table.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for i in range(len(table)):
        tds = "".join(f'<td class="num">{html.escape(col[i])}</td>' if num
                      else f"<td>{html.escape(col[i])}</td>"
                      for col, num in zip(cells, numeric, strict=True))
        rows.append(f"<tr>{tds}</tr>")
    body = "\n".join(rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def html_page(title: str, body: str, caption: str = "") -> str:
    """A self-contained HTML page: ``title``, an optional plain-text ``caption`` and
    ``body`` (HTML, inserted as it is)."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>",
             "<body>", f"<h1>{html.escape(title)}</h1>"]
    if caption:
        parts.append(f'<p class="caption">{html.escape(caption)}</p>')
    parts += [body, "</body>", "</html>", ""]
    return "\n".join(parts)


def write_html_table(table: pd.DataFrame, path: str | os.PathLike, caption: str = "", *,
                     title: str | None = None, csv: str | os.PathLike | None = None) -> None:
    """Write ``table`` as an HTML page (atomically).

    Parameters
    ----------
    table : pandas.DataFrame
        The table, as its CSV holds it (columns in order, no index).
    path : str or os.PathLike
        Page to write (``.html``).
    caption : str
        Plain text under the title: what a row is, units.
    title : str, optional
        Heading of the page (default: the file name without suffix).
    csv : str or os.PathLike, optional
        The CSV the table was read from: embedded as a download link (the report holds
        the page only) and named under the table.
    """
    title = title or Path(path).stem
    body = html_table(table)
    n = f"{len(table):,} row{'s' if len(table) != 1 else ''}"
    if csv is not None:
        data = base64.b64encode(Path(csv).read_bytes()).decode("ascii")
        name = html.escape(Path(csv).name)
        body += (f'\n<p class="source">{n}. Download the table: '
                 f'<a download="{name}" href="data:text/csv;base64,{data}">{name}</a></p>')
    else:
        body += f'\n<p class="source">{n}.</p>'
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html_page(title, body, caption), encoding="utf-8")

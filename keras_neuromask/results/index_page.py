"""``index.html``: one page to look through a run's results, in any browser, offline.

The page is one self-contained HTML file: no network, no script or style from elsewhere.
Pictures are either files next to the page (a relative name) or embedded (a ``data:`` URI,
see :func:`thumbnail_uri`). One table holds a row per image: its pictures (the photo, an
overlay per method), and its values (class name, probabilities, mask area, seconds, ...).
Clicking a column's header sorts the rows by it (again: the other way); "sort by" also offers
values that have no column of their own (a method's scores under its overlay), and
``index.html#sort=mask area:-1`` opens the page sorted. Other tables (the comparison's
metrics) come first and sort by their headers too.

When its script has run, the page sets ``data-status="ok"`` on ``<body>``, and once the pictures
are in, ``data-images-loaded`` and ``data-images-total`` (a test reads them from the DOM).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from typing import Mapping, NamedTuple, Sequence

import numpy as np
from PIL import Image

from keras_neuromask.results.outputs import atomic_write

Value = float | int | str | None


class Picture(NamedTuple):
    """One picture of a row."""

    column: str  # the column it goes in, e.g. "overlay" or a method's name
    src: str  # a file name relative to the page, or a data: URI
    caption: str = ""  # a line under it (e.g. a method's scores)
    link: str | None = None  # what a click opens (default: src, unless it is a data: URI)


class PageRow(NamedTuple):
    """One image of the page."""

    name: str  # shown in the first column, e.g. the file name
    pictures: Sequence[Picture]  # in column order
    values: Mapping[str, Value]  # column -> value, shown after the pictures, in order
    sort_only: Mapping[str, Value] = {}  # more values to sort by, not shown as columns


class Table(NamedTuple):
    """A table of its own (e.g. the comparison's metrics, one row per method)."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Value]]


def thumbnail_uri(picture, max_side: int = 320, quality: int = 85) -> str:
    """A JPEG ``data:`` URI of a uint8 (h, w, 3) picture, shrunk to ``max_side`` at most."""
    image = Image.fromarray(np.asarray(picture, np.uint8), mode="RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _text(value: Value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _sort_value(value: Value):
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value) if math.isfinite(float(value)) else None
    return None if value is None else str(value)


def _table(table: Table, index: int) -> str:
    head = "".join(f'<th data-col="{i}" title="sort">{html.escape(c)}</th>'
                   for i, c in enumerate(table.columns))
    body = []
    for row in table.rows:
        cells = "".join(f"<td data-v='{html.escape(json.dumps(_sort_value(v)))}'>"
                        f"{html.escape(_text(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return (f'<h2>{html.escape(table.caption)}</h2>\n<table class="sortable" id="table{index}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _images_table(rows: Sequence[PageRow]) -> tuple[str, list[str]]:
    picture_columns = list(dict.fromkeys(p.column for row in rows for p in row.pictures))
    value_columns = list(dict.fromkeys(k for row in rows for k in row.values))
    sort_keys = ["name", *value_columns,
                 *dict.fromkeys(k for row in rows for k in row.sort_only)]
    head = ['<th data-key="name" title="sort">image</th>']
    head += [f"<th>{html.escape(c)}</th>" for c in picture_columns]
    head += [f'<th data-key="{html.escape(c)}" title="sort">{html.escape(c)}</th>'
             for c in value_columns]
    body = []
    for row in rows:
        keys = {"name": row.name, **{k: _sort_value(v) for k, v in row.values.items()},
                **{k: _sort_value(v) for k, v in row.sort_only.items()}}
        cells = [f"<td>{html.escape(row.name)}</td>"]
        by_column = {p.column: p for p in row.pictures}
        for column in picture_columns:
            picture = by_column.get(column)
            if picture is None:
                cells.append("<td></td>")
                continue
            image = (f"<img src=\"{html.escape(picture.src)}\" "
                     f"alt=\"{html.escape(row.name)}: {html.escape(column)}\">")
            link = picture.link or (None if picture.src.startswith("data:") else picture.src)
            if link:  # browsers refuse to open a data: URI as a page, so those get no link
                image = f"<a href=\"{html.escape(link)}\">{image}</a>"
            under = f"<div class='cap'>{html.escape(picture.caption)}</div>" if \
                picture.caption else ""
            cells.append(f"<td class='pic'>{image}{under}</td>")
        cells += [f"<td>{html.escape(_text(row.values.get(c)))}</td>" for c in value_columns]
        body.append(f"<tr data-sort='{html.escape(json.dumps(keys))}'>{''.join(cells)}</tr>")
    table = (f'<table id="images"><thead><tr>{"".join(head)}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table>")
    return table, sort_keys


_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f2f2f2;position:sticky;top:0}
th[data-key],th[data-col]{cursor:pointer}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td:first-child{text-align:left;min-width:8em;max-width:16em;overflow-wrap:anywhere}
td.pic{text-align:center} td.pic img{max-width:220px;max-height:220px;display:block}
.cap{font-size:12px;color:#555} .facts{color:#555}
"""

_SCRIPT = """
(function () {
  var body = document.body;
  window.addEventListener('error', function (e) { body.dataset.jsError = String(e.message); });
  function compare(a, b) {
    if (a === b) return 0; if (a === null) return 1; if (b === null) return -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  function sortRows(tbody, value, direction) {
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (x, y) {
      var a = value(x), b = value(y);
      if (a === null || b === null) return compare(a, b);
      return direction * compare(a, b);
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function mark(th, direction) {
    th.parentNode.querySelectorAll('th').forEach(function (h) { h.className = ''; });
    if (th) th.className = direction > 0 ? 'asc' : 'desc';
  }
  var images = document.getElementById('images');
  var select = document.getElementById('sort');
  function sortImages(key, direction) {
    sortRows(images.tBodies[0], function (r) {
      var v = JSON.parse(r.dataset.sort)[key]; return v === undefined ? null : v;
    }, direction);
  }
  if (images) {
    images.querySelectorAll('th[data-key]').forEach(function (th) {
      th.addEventListener('click', function () {
        var direction = th.className === 'asc' ? -1 : 1;
        sortImages(th.dataset.key, direction); mark(th, direction);
        if (select) select.value = th.dataset.key + (direction > 0 ? ':1' : ':-1');
      });
    });
  }
  if (select) {
    select.addEventListener('change', function () {
      var parts = select.value.split(':'), direction = Number(parts.pop());
      var key = parts.join(':');
      sortImages(key, direction);
      var th = images.querySelector('th[data-key="' + key.replace(/"/g, '\\\\"') + '"]');
      if (th) mark(th, direction); else mark(images.querySelector('th'), 0);
    });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th[data-col]').forEach(function (th) {
      th.addEventListener('click', function () {
        var direction = th.className === 'asc' ? -1 : 1, col = Number(th.dataset.col);
        sortRows(table.tBodies[0], function (r) {
          return JSON.parse(r.cells[col].dataset.v);
        }, direction);
        mark(th, direction);
      });
    });
  });
  // index.html#sort=KEY:-1 opens the page sorted (a link to a view; also what a test uses)
  var wanted = decodeURIComponent(location.hash.replace(/^#sort=/, ''));
  if (select && location.hash.indexOf('#sort=') === 0) {
    select.value = wanted; select.dispatchEvent(new Event('change'));
  }
  window.addEventListener('load', function () {
    var all = Array.prototype.slice.call(document.images);
    body.dataset.imagesTotal = all.length;
    body.dataset.imagesLoaded = all.filter(function (i) {
      return i.complete && i.naturalWidth > 0;
    }).length;
  });
  body.dataset.status = 'ok';
})();
"""


def index_html(title: str, rows: Sequence[PageRow], *, facts: Mapping[str, Value] | None = None,
               tables: Sequence[Table] = (), note: str = "") -> str:
    """The page's HTML (see the module docstring).

    Args:
        title: the page's title and heading.
        rows: one :class:`PageRow` per image.
        facts: a line of facts about the run (model, preset, steps, ...).
        tables: tables shown before the images (e.g. the comparison's metrics).
        note: a line under the heading (plain text).
    """
    if not isinstance(title, str):
        raise TypeError(f"Expected `title` to be a str. Received: {type(title).__name__}")
    for row in rows:
        if not isinstance(row, PageRow):
            raise TypeError(f"Expected PageRow rows. Received: {type(row).__name__}")
    images, keys = _images_table(rows)
    options = "".join(
        f'<option value="{html.escape(k)}:{d}">{html.escape(k)} {arrow}</option>'
        for k in keys for d, arrow in ((1, "↑"), (-1, "↓")))
    fact_line = " · ".join(f"{html.escape(str(k))}: {html.escape(_text(v))}"
                           for k, v in (facts or {}).items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing from the network, ever: the page only shows what lies next to it.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='facts'>{fact_line}</p>" if fact_line else "",
        f"<p>{html.escape(note)}</p>" if note else "",
        *(_table(table, i) for i, table in enumerate(tables)),
        f"<h2>Images ({len(rows)})</h2>",
        f"<p><label>sort by <select id='sort'>{options}</select></label> "
        "(or click a column's header)</p>",
        images, f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def write_index_html(path: str | os.PathLike, title: str, rows: Sequence[PageRow],
                     **options) -> str:
    """Writes :func:`index_html` of the same arguments to ``path`` (atomically).

    Returns:
        The path written.

    Example:
        >>> write_index_html("out/index.html", "neuromask explain", rows, facts={"model": "m"})
    """
    text = index_html(title, rows, **options)
    return os.fspath(atomic_write(path, lambda f: f.write(text.encode("utf-8"))))


__all__ = ["PageRow", "Picture", "Table", "index_html", "thumbnail_uri", "write_index_html"]

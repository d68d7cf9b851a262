"""index.html: one self-contained page per run, checked as text and in a real browser."""

import re

import numpy as np
import pytest
from browser import console_errors, find_chromium, run_chromium
from PIL import Image

from keras_neuromask.results.index_page import (
    PageRow,
    Picture,
    Table,
    index_html,
    thumbnail_uri,
    write_index_html,
)


def _photo(seed, size=(60, 90)):
    return np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)


def _page(folder):
    """Three rows: an embedded photo and an overlay file next to the page each."""
    rows = []
    for i, area in enumerate((0.30, 0.05, 0.12)):
        Image.fromarray(_photo(10 + i)).save(folder / f"img{i}.overlay.png")
        rows.append(PageRow(f"img{i}.png", [Picture("photo", thumbnail_uri(_photo(i))),
                                            Picture("overlay", f"img{i}.overlay.png")],
                            {"class": f"class {i}", "mask area": area, "seconds": 1.0 + i},
                            {"hidden score": float(i)}))
    table = Table("Methods", ["method", "deletion"], [["a", 0.2], ["b", 0.1]])
    return write_index_html(folder / "index.html", "neuromask explain", rows,
                            facts={"model": "m"}, tables=[table])


def test_the_page_holds_every_row_picture_and_table_and_escapes_names(tmp_path):
    text = open(_page(tmp_path), encoding="utf-8").read()
    assert text.count("<img ") == 6 and text.count("data:image/jpeg;base64,") == 3
    assert "img2.overlay.png" in text and "Methods" in text and "hidden score" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing from the network
    nasty = index_html("t", [PageRow("<script>alert(1)</script>.png", [], {"class": "<b>"})])
    assert "<script>alert(1)" not in nasty and "&lt;script&gt;" in nasty
    with pytest.raises(TypeError, match="Expected PageRow rows"):
        index_html("t", [("not", "a row")])


def test_thumbnails_are_jpeg_data_uris_no_larger_than_asked():
    import base64
    import io

    uri = thumbnail_uri(_photo(0, (600, 900)), max_side=120)
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "JPEG" and max(image.size) == 120 and image.size == (120, 80)


def _dom(url):
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run "
                    "installs it): the page's browser test needs a real browser")
    done = run_chromium(url, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_errors(done.stderr) == [], console_errors(done.stderr)
    return done.stdout


def _body(dom):
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body[^>]*>", dom)[0]))


def test_the_page_loads_in_a_browser_without_errors_and_shows_every_picture(tmp_path):
    _page(tmp_path)
    body = _body(_dom((tmp_path / "index.html").as_uri()))
    assert body.get("status") == "ok" and "js-error" not in body, body
    assert body["images-total"] == "6" and body["images-loaded"] == "6"


def test_a_missing_picture_is_seen_by_the_browser_test(tmp_path):
    """The check above can fail: a picture that is not there is not counted as loaded."""
    _page(tmp_path)
    (tmp_path / "img1.overlay.png").unlink()
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    done = run_chromium((tmp_path / "index.html").as_uri(), "--dump-dom")
    body = _body(done.stdout)
    assert body["images-total"] == "6" and body["images-loaded"] == "5"


def test_the_page_sorts_its_rows_by_a_column(tmp_path):
    _page(tmp_path)
    url = (tmp_path / "index.html").as_uri()
    by_area = _dom(url + "#sort=mask%20area:-1")
    order = re.findall(r"<td>(img\d)\.png</td>", by_area)
    assert order == ["img0", "img2", "img1"]  # areas 0.30, 0.12, 0.05
    by_hidden = _dom(url + "#sort=hidden%20score:-1")
    assert re.findall(r"<td>(img\d)\.png</td>", by_hidden) == ["img2", "img1", "img0"]

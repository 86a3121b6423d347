"""pad.js on a blank page: the image the models read, for grey and colour data.

The pad is built for a (C, H, W) shape and strokes are drawn through its own pointer handlers
(Playwright's mouse), so what is checked is what a person gets: ink where the pen went, in the
pen's colour, the eraser, the pen width, Invert and Clear, and a PNG read back exactly.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from test_decoder_js import add_forward_passes, served  # noqa: F401  (served: a fixture)

pytestmark = pytest.mark.browser

BUILD_JS = """([shape]) => {
  document.body.textContent = '';
  const box = document.createElement('div');
  document.body.appendChild(box);
  window.__changes = [];
  window.__pad = new DrawingPad(box, shape, { onChange: (t0, reason) => window.__changes.push(reason) });
  return window.__pad.canvas.width;
}"""


def values(page, shape):
    return np.asarray(page.evaluate("Array.from(window.__pad.values)"), np.float32).reshape(shape)


def stroke(page, fractions):
    box = page.get_by_role("img", name="Drawing pad").bounding_box()
    at = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in fractions]
    page.mouse.move(*at[0])
    page.mouse.down()
    for (ax, ay), (bx, by) in zip(at[:-1], at[1:]):
        for k in range(1, 9):
            page.mouse.move(ax + (bx - ax) * k / 8, ay + (by - ay) * k / 8)
    page.mouse.up()


@pytest.fixture
def pad_page(page, served):  # noqa: F811
    page.goto(f"{served[0]}/index.html")
    add_forward_passes(page)
    return page


def test_grey_pad_ink_eraser_width_invert_clear(pad_page):
    shape = (1, 28, 28)
    assert pad_page.evaluate(BUILD_JS, [list(shape)]) >= 28 * 4  # enlarged for the mouse
    assert values(pad_page, shape).max() == 0  # black paper
    stroke(pad_page, [(0.2, 0.5), (0.8, 0.5)])
    thin = values(pad_page, shape)
    assert thin.max() == 1.0 and thin.min() == 0.0
    rows = np.flatnonzero(thin[0].max(axis=1) > 0.5)
    assert 12 <= rows.min() <= rows.max() <= 16  # a horizontal line through the middle
    assert set(pad_page.evaluate("window.__changes")) == {"draw"}
    n_changes = pad_page.evaluate("window.__changes.length")
    assert n_changes >= 8  # one per pointer move, not one per stroke

    pad_page.get_by_label("Pen width").fill("6")  # the widest pen
    stroke(pad_page, [(0.5, 0.1), (0.5, 0.9)])
    wide = values(pad_page, shape)
    cols = np.flatnonzero(wide[0, 2:10].max(axis=0) > 0.5)  # where only the vertical line is
    assert cols.max() - cols.min() + 1 >= 4  # 5 pixels wide, as set

    pad_page.get_by_role("button", name="Eraser").click()
    stroke(pad_page, [(0.1, 0.5), (0.9, 0.5)])
    erased = values(pad_page, shape)
    assert erased[0, 13:16, 2:10].max() == 0 and erased[0, 2:10].max() == 1.0  # the bar is gone, the rest stays

    pad_page.get_by_role("button", name="Invert").click()
    np.testing.assert_allclose(values(pad_page, shape), 1 - erased, atol=1 / 255 + 1e-6)
    pad_page.get_by_role("button", name="Clear").click()
    assert values(pad_page, shape).max() == 0
    assert not pad_page.page_errors


def test_colour_pad_draws_in_the_pen_colour_and_reads_png(pad_page, tmp_path):
    shape = (3, 16, 20)
    pad_page.evaluate(BUILD_JS, [list(shape)])
    pad_page.get_by_label("Pen colour").fill("#ff8000")
    stroke(pad_page, [(0.2, 0.5), (0.8, 0.5)])
    x = values(pad_page, shape)
    ink = x[0] > 0.99
    assert ink.sum() >= 10
    np.testing.assert_allclose(x[1][ink], 128 / 255, atol=1 / 255)  # orange: full red, half green, no blue
    assert x[2].max() == 0

    # A colour PNG at 4x (nearest) comes back as the 20x16 image, to its bytes.
    rgb = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    png = tmp_path / "colour.png"
    buffer = io.BytesIO()
    Image.fromarray(np.kron(rgb, np.ones((4, 4, 1), np.uint8))).save(buffer, format="PNG")
    png.write_bytes(buffer.getvalue())
    pad_page.get_by_label("Use an image file").set_input_files(str(png))
    pad_page.wait_for_function("window.__changes.includes('file')")
    np.testing.assert_allclose(values(pad_page, shape) * 255, rgb.transpose(2, 0, 1), atol=1.0)
    assert not pad_page.page_errors


def test_a_grey_pad_reads_a_colour_file_as_grey(pad_page, tmp_path):
    """PNG/JPEG in colour, data in grey: ITU-R 601 luma, as PIL's convert('L'); a wider picture is
    fitted inside, centred, on black."""
    shape = (1, 28, 28)
    pad_page.evaluate(BUILD_JS, [list(shape)])
    rgb = np.random.default_rng(1).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    png = tmp_path / "grey.png"
    buffer = io.BytesIO()
    Image.fromarray(np.kron(rgb, np.ones((4, 4, 1), np.uint8))).save(buffer, format="PNG")
    png.write_bytes(buffer.getvalue())
    pad_page.get_by_label("Use an image file").set_input_files(str(png))
    pad_page.wait_for_function("window.__changes.includes('file')")
    want = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
    np.testing.assert_allclose(values(pad_page, shape)[0] * 255, want, atol=1.0)
    assert not pad_page.page_errors

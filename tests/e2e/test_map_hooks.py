"""The map component on a blank page, driven as Streamlit drives it (its default export called with
data, a parent element and setStateValue), for what issue 16 found in map.js:

- the test hooks (window.__vaeLatentMap, its `instance`) exist only when the server says it runs
  under test (data.testHooks), never in production;
- the server is asked to decode again when another model's decoder fails later, not only once;
- grid pictures taken off the page are no longer observed for resizes.
"""
from __future__ import annotations

import pytest

from test_decoder_js import served  # noqa: F401  (a fixture: a local HTTP server over a folder)

pytestmark = pytest.mark.browser

MOUNT_JS = """(source) => {
  // The bundle's default export, reachable from the page (a module has no global scope).
  const script = document.createElement('script');
  script.type = 'module';
  script.textContent = source.replace('export default function', 'window.__mountMap = function');
  document.head.appendChild(script);
}"""

DRIVE_JS = """async ([datas, hooks]) => {
  const parentElement = document.createElement('div');
  document.body.appendChild(parentElement);
  const sent = [];
  const setStateValue = (name, value) => sent.push([name, value]);
  const observed = new Set();
  const real = window.ResizeObserver;
  window.ResizeObserver = class extends real {
    observe(t) { observed.add(t); return super.observe(t); }
    unobserve(t) { observed.delete(t); return super.unobserve(t); }
  };
  const grids = [];
  for (const data of datas) {
    const before = parentElement.querySelector('.vlm-root');
    if (before) before.dataset.ready = '';
    window.__mountMap({ data: [{ ...data, testHooks: hooks }], parentElement, setStateValue });
    // The update is done once its decoders have settled: the root says so.
    const root = parentElement.querySelector('.vlm-root');
    for (let i = 0; root.dataset.ready !== '1'; i++) {
      if (i > 3000) throw new Error('the map never became ready');
      await new Promise((r) => setTimeout(r, 5));
    }
    grids.push([...parentElement.querySelectorAll('img.vlm-grid-image')]);
  }
  window.ResizeObserver = real;
  const inPage = [...observed].filter((t) => t.tagName === 'IMG').map((t) => document.contains(t));
  return { sent, exposed: !!window.__vaeLatentMap,
           hasInstance: !!(window.__vaeLatentMap && window.__vaeLatentMap.instance), observedImages: inPage,
           grids: grids.map((g) => g.length) };
}"""


def model(side: str, grid_url: str | None = None, decoder_error: str | None = "no export here") -> dict:
    return {
        "side": side, "title": f"model {side}", "key": f"{side}-v1", "count": 0, "points": "missing.bin",
        "extent": [-1, 1, -1, 1], "plane": {"mean": [0, 0], "axes": [[1, 0], [0, 1]]}, "axisNames": ["z1", "z2"],
        "grid": None if grid_url is None else {"url": grid_url, "n": 2, "xs": [-1, 1], "ys": [-1, 1], "caption": ""},
        "path": None, "pickedCode": None, "ellipses": [], "geodesic": None, "layer": None,
        "decoder": None, "decoderError": decoder_error, "encoder": None, "encoderError": "no export here",
    }


def data(*models, server_images=None) -> dict:
    return {"classes": ["a", "b"], "palette": ["#000", "#111"], "models": list(models), "canPin": False,
            "sliders": [{"id": "AB", "sides": [m["side"] for m in models], "ranges": [[-2, 2], [-2, 2]],
                         "z": [0, 0], "prefix": "", "title": "sliders"}],
            "picked": None, "ends": [], "atlas": None, "serverImages": server_images or {}, "pinnedDrawing": None}


@pytest.fixture
def blank_map(page, served):  # noqa: F811
    from explorer.latent_map.bundle import component_js

    page.goto(f"{served[0]}/index.html")
    page.evaluate(MOUNT_JS, component_js())
    page.wait_for_function("typeof window.__mountMap === 'function'")
    return page


@pytest.mark.parametrize("hooks", [False, True], ids=["production", "under-test"])
def test_hooks_only_under_test(blank_map, hooks):
    out = blank_map.evaluate(DRIVE_JS, [[data(model("A"))], hooks])
    assert out["exposed"] is hooks and out["hasInstance"] is hooks
    assert not blank_map.page_errors


def test_server_asked_again_when_another_decoder_fails_later(blank_map):
    image = "data:image/png;base64,iVBORw0KGgo="
    ok_b = model("B", decoder_error=None)
    ok_b["decoder"] = {"spec": "missing-b.json", "weights": "missing-b.bin"}  # fails to load: later, in the browser
    out = blank_map.evaluate(DRIVE_JS, [[
        data(model("A")),                                                   # A fails: ask for A
        data(model("A"), server_images={"A": image}),                       # answered: nothing more
        data(model("A"), ok_b, server_images={"A": image}),                 # B fails too: ask for A and B
        data(model("A"), ok_b, server_images={"A": image, "B": image}),     # answered: nothing more
    ], False])
    asks = [value for name, value in out["sent"] if name == "serverDecode"]
    assert asks == [["A"], ["A", "B"]], out["sent"]


def test_removed_grid_pictures_are_not_observed(blank_map):
    out = blank_map.evaluate(DRIVE_JS, [[data(model("A", "g1.png")), data(model("A", "g2.png")),
                                         data(model("A", "g3.png"))], False])
    assert out["grids"] == [1, 1, 1]
    assert out["observedImages"] == [True], out["observedImages"]  # only the picture on the page

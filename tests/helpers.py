"""Shared test helpers: page checks (no exception, no traceback text), quick model fixtures, the
objective patch point, and a small colour dataset. Importing it needs no streamlit (a GPU machine
runs bench/cuda_registries_check.py with it)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from vae_core.data.shapes import SHAPE_CLASSES, coloured_shapes  # noqa: F401  (the tests' colour dataset)

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest


def page_text(at: AppTest) -> str:
    """Every element's protobuf as text: what the browser would be sent."""
    out = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, at.exception
    text = page_text(at)
    for needle in ("Traceback", "stack_trace", 'File "'):
        assert needle not in text, text[:2000]


def save_untrained_model(folder, *, dataset: str = "mnist", objective: str = "standard", hidden=(16,),
                         latent_dim: int = 2, arch: str = "mlp", data_dir=None) -> None:
    """A seeded, untrained model saved with its test-set codes, as the page saves models: a fixture
    that costs a second, for tests about the page and the files rather than about learning."""
    import torch

    import vae_core as vc

    torch.manual_seed(0)
    model = vc.build_model(vc.ModelConfig(objective=objective, hidden=tuple(hidden), latent_dim=latent_dim,
                                          arch=arch)).eval()
    test = vc.load_split(dataset, "test", data_dir=data_dir)
    vc.save_bundle(folder, model, vc.TrainConfig(dataset=dataset, epochs=1), metrics={"epochs": 1},
                   latents={"mu": vc.encode_means(model, test.images), "labels": test.labels.numpy()})


def patch_objective(monkeypatch, wrap) -> None:
    """Route every training step's loss through `wrap(real_loss, model, x, step)`: the objectives
    the loop builds (vae_core.training.loop.make_objective) get their `loss` wrapped."""
    import vae_core.training.loop as train_module

    real_make = train_module.make_objective

    def make(*args, **kwargs):
        objective = real_make(*args, **kwargs)
        real_loss = objective.loss
        objective.loss = lambda model, x, step=0: wrap(real_loss, model, x, step)
        return objective

    monkeypatch.setattr(train_module, "make_objective", make)


def write_image_folder(root, images, labels, classes, *, ext: str = "png") -> None:
    """The ImageFolder layout: root/<class>/<index>.png."""
    from pathlib import Path

    from PIL import Image

    root = Path(root)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(root / classes[label] / f"{i:05d}.{ext}")


def latent_map(at: AppTest) -> dict | None:
    """The data the page sent to its latent map component (None when no map is drawn)."""
    import json

    for element in at.get("bidi_component"):
        if element.proto.component_name == "vae_latent_map":
            return json.loads(element.proto.json)[0]  # sent as a list of one (explorer.latent_map.latent_map)
    return None


def mapped_sides(at: AppTest) -> list[str]:
    """The model sides drawn on the latent map."""
    data = latent_map(at)
    return [m["side"] for m in data["models"]] if data else []


def static_file(url: str) -> bytes:
    """A file the page published for the browser (app/static/cache/...)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert url.startswith("app/static/cache/"), url
    return (root / url[len("app/"):]).read_bytes()


def open_tab(at: AppTest, title: str) -> AppTest:
    """Select a tab, as a click does: only the open tab's content runs (and is there to test)."""
    at.session_state["tab"] = title
    return at.run()

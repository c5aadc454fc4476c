"""The CourseWidget pattern: controls + a pure render function + a static fallback image."""
import base64

import ipywidgets as widgets
import pytest

from vae_teach.plots import array_to_png
from vae_teach.widgets import CourseWidget


def make_widget():
    import numpy as np

    def render(level, size):
        image = np.full((size, size), level)
        return array_to_png(image, scale=2), f"level {level:.2f}"

    controls = {"level": widgets.FloatSlider(value=0.2, min=0, max=1, description="level"),
                "size": widgets.IntSlider(value=4, min=2, max=8, description="size")}
    return CourseWidget(controls, render, title="test")


def test_moving_a_control_re_renders_the_image_and_status():
    w = make_widget()
    first = w.png
    assert first.startswith(b"\x89PNG") and w.status.value == "level 0.20"
    w.set(level=0.9)
    assert w.png != first and w.status.value == "level 0.90"
    assert w.n_renders == 2
    w.controls["size"].value = 6                         # a front-end move goes the same way
    assert w.n_renders == 3 and w.values == {"level": 0.9, "size": 6}


def test_latest_is_declared_and_filled_by_the_render_function():
    assert make_widget().latest == {}                      # every widget has one
    latest: dict = {}

    def render(level):
        latest["level"] = level
        return array_to_png([[level]])

    w = CourseWidget({"level": widgets.FloatSlider(value=0.5, min=0, max=1)}, render,
                     latest=latest)
    assert w.latest is latest and w.set(level=0.25).latest == {"level": 0.25}


def test_picture_keeps_its_proportions_in_the_layout():
    layout = make_widget().image.layout
    assert layout.align_self == "flex-start" and layout.object_fit == "contain"   # never stretched
    assert layout.min_width == "0"                        # may shrink to fit, instead of cropped


def test_unknown_control_is_rejected():
    with pytest.raises(ValueError, match="unknown control"):
        make_widget().set(colour=1)
    with pytest.raises(ValueError, match="controls"):
        CourseWidget({}, lambda: b"")


def test_output_carries_the_widget_view_and_a_static_png():
    w = make_widget()
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == w.png


@pytest.mark.parametrize("shape", [(5, 7, 3), (5, 7, 4), (5, 7)], ids=["rgb", "rgba", "grey"])
def test_rgb_to_png_round_trips_through_a_png_reader(shape):
    import io

    import numpy as np
    from PIL import Image

    from vae_teach.plots import rgb_to_png

    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(rgb_to_png(pixels))))
    assert decoded.shape == shape and (decoded == pixels).all()
    view = np.zeros((6, 8, 4), np.uint8)[..., :3]               # a non-contiguous view works too
    assert np.asarray(Image.open(io.BytesIO(rgb_to_png(view)))).shape == (6, 8, 3)


def test_array_to_png_enlarges_each_pixel():
    import io

    import numpy as np
    from PIL import Image

    image = np.array([[0.0, 1.0], [0.5, 0.0]])
    decoded = np.asarray(Image.open(io.BytesIO(array_to_png(image, scale=3))))
    assert decoded.shape == (6, 6, 3)
    assert (decoded[:3, :3] == 255).all() and (decoded[:3, 3:] == 0).all()   # gray_r: 0 white
    assert len(np.unique(decoded[3:, :3])) == 1

"""The one pattern every widget of the course follows.

A ``CourseWidget`` is a set of ipywidgets controls plus one image.  A *pure* render function
maps the control values to PNG bytes (and, optionally, a line of HTML text).  Moving a control
re-renders and replaces the image bytes: nothing is rebuilt, no figure is re-created, so an
update costs one render (a few ms for a digit, ~20-40 ms for a small matplotlib figure).

Without a live front end (nbval, nbconvert, the HTML edition without widget state) the output
still carries a static PNG of the current state, so the reader sees the default figure.
"""
from __future__ import annotations

import base64
import math
from typing import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..plots import rgb_to_png

_INT_CONTROLS = (widgets.IntSlider, widgets.IntText, widgets.BoundedIntText, widgets.IntRangeSlider)
_NUMBER_CONTROLS = (widgets.FloatSlider, widgets.FloatLogSlider, widgets.FloatText,
                    widgets.BoundedFloatText)


def _checked_value(name: str, control, value):
    """``value`` for ``control``, or a clear error: a number (finite; whole for an integer
    control, where 3.0 is accepted as 3) for a numeric control, one of the options for a menu.
    Numbers outside a slider's range are clamped to it by ipywidgets, as when dragging."""
    if isinstance(control, _INT_CONTROLS + _NUMBER_CONTROLS) and \
            not isinstance(control, widgets.IntRangeSlider):
        if isinstance(value, bool) or not isinstance(value, (int, float)) and \
                not hasattr(value, "__float__") or isinstance(value, str):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if isinstance(control, _INT_CONTROLS):
            if not number.is_integer():
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            return int(number)
        return number
    options = getattr(control, "_options_values", None)
    if options is not None and value not in options:
        raise ValueError(f"{name} must be one of {list(options)!r}, got {value!r}")
    if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)) and \
            not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def new_figure(figsize=(6, 3.5), dpi: int = 90) -> Figure:
    """A matplotlib Figure that lives outside pyplot (never shown twice, never leaked) with a
    fixed layout, so redrawing it for a widget is cheap."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="none")
    FigureCanvasAgg(fig)
    return fig


class BlitFigure:
    """Draw a figure's static parts (axes, ticks, legend) once; per update redraw only the
    artists that move, onto a copy of that background, and encode the pixels as PNG.

    ``on_top``: static artists that must cover the moving ones (a legend over the bars).  Their
    pixels are copied once, after the first drawing, and pasted back over each frame, instead of
    being drawn again (a legend's text is the most expensive thing to draw).  They should be
    opaque (a legend with ``framealpha=1``): what shows through them is the first drawing.

    Much cheaper than ``savefig`` for a figure whose text and grid do not change.  Used by the
    widgets of notebooks 04, 05, 06, 07 and 10.
    """

    def __init__(self, fig, moving, on_top=()):
        self.fig, self.moving = fig, list(moving)
        for artist in self.moving:
            artist.set_animated(True)          # left out of the background drawing below
        fig.canvas.draw()
        self.background = fig.canvas.copy_from_bbox(fig.bbox)
        renderer = fig.canvas.get_renderer()
        self.on_top = [fig.canvas.copy_from_bbox(artist.get_window_extent(renderer))
                       for artist in on_top]

    def pixels(self) -> np.ndarray:
        """The current frame as an [H, W, 3] uint8 array (a copy)."""
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        for region in self.on_top:
            canvas.restore_region(region)
        return np.array(np.asarray(canvas.buffer_rgba())[..., :3])

    def png(self) -> bytes:
        return rgb_to_png(self.pixels())


class CourseWidget:
    """Controls + an image, re-rendered by ``render(**values)`` whenever a control moves.

    ``render`` returns PNG bytes, or ``(png_bytes, html_text)`` to also show a status line.
    Use ``set(name=value, ...)`` to move controls from code (tests do this), ``values`` to read
    them, ``png`` for the current image.  ``latest`` is a dict that ``render`` may fill with the
    numbers behind the current picture (pass your own to share it with the render function).
    In a notebook, just leave the widget as the last expression of a cell (or ``display(w)``).
    """

    def __init__(self, controls: dict[str, widgets.Widget], render: Callable[..., object], *,
                 title: str = "", image_width: str | None = None, latest: dict | None = None):
        if not controls:
            raise ValueError("controls must hold at least one control")
        self.controls = dict(controls)
        self.render = render
        self.latest = {} if latest is None else latest
        # The picture keeps its proportions: it is never stretched to the height of a tall
        # control panel, and where the notebook is narrower than panel + picture it is scaled
        # down (after the panel has shrunk to its minimum width), never cropped.
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            flex="0 1 auto", min_width="0", height="auto", align_self="flex-start",
            object_fit="contain"))
        if image_width:
            self.image.layout.width = image_width
        self.status = widgets.HTML()
        self.title = title
        # Controls whose every combination the reading edition precomputes (its offline
        # widgets, vae_teach_tools.offline_widgets); by default the 2-D latent pair z1, z2.
        self.offline_grid: tuple[str, ...] = ("z1", "z2") if {"z1", "z2"} <= set(controls) else ()
        self.n_renders = 0
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        panel = widgets.VBox(list(self.controls.values()) + [self.status],
                             layout=widgets.Layout(min_width="300px", flex="0 100 auto"))
        self.box = widgets.VBox(header + [widgets.HBox([panel, self.image])])
        # CSS hooks for the browser end-to-end test (tests/test_browser.py)
        self.box.add_class("vae-teach-widget")
        self.image.add_class("vae-teach-widget-image")
        self.refresh()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    @property
    def png(self) -> bytes:
        return bytes(self.image.value)

    def refresh(self) -> None:
        result = self.render(**self.values)
        png, text = result if isinstance(result, tuple) else (result, None)
        self.image.value = png
        if text is not None:
            self.status.value = text
        self.n_renders += 1

    def _on_change(self, _change) -> None:
        self.refresh()

    def set(self, **values) -> "CourseWidget":
        """Move controls from code, e.g. ``w.set(z1=1.5)``; unknown names raise ValueError."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this widget has "
                             f"{sorted(self.controls)}")
        checked = {name: _checked_value(name, self.controls[name], value)
                   for name, value in values.items()}
        with self.box.hold_sync():
            for name, value in checked.items():
                self.controls[name].value = value
        return self

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def _ipython_display_(self):  # pragma: no cover - only used by IPython
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

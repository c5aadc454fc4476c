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
from typing import Callable

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RenderResult = "bytes | tuple[bytes, str]"


def new_figure(figsize=(6, 3.5), dpi: int = 90) -> Figure:
    """A matplotlib Figure that lives outside pyplot (never shown twice, never leaked) with a
    fixed layout, so redrawing it for a widget is cheap."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="none")
    FigureCanvasAgg(fig)
    return fig


class CourseWidget:
    """Controls + an image, re-rendered by ``render(**values)`` whenever a control moves.

    ``render`` returns PNG bytes, or ``(png_bytes, html_text)`` to also show a status line.
    Use ``set(name=value, ...)`` to move controls from code (tests do this), ``values`` to read
    them, ``png`` for the current image.  In a notebook, just leave the widget as the last
    expression of a cell (or ``display(w)``).
    """

    def __init__(self, controls: dict[str, widgets.Widget], render: Callable[..., object], *,
                 title: str = "", image_width: str | None = None):
        if not controls:
            raise ValueError("controls must hold at least one control")
        self.controls = dict(controls)
        self.render = render
        # The picture keeps its proportions: it is never stretched to the height of a tall
        # control panel, and where the notebook is narrower than panel + picture it is scaled
        # down (after the panel has shrunk to its minimum width), never cropped.
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            flex="0 1 auto", min_width="0", height="auto", align_self="flex-start",
            object_fit="contain"))
        if image_width:
            self.image.layout.width = image_width
        self.status = widgets.HTML()
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
        with self.box.hold_sync():
            for name, value in values.items():
                self.controls[name].value = value
        return self

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def _ipython_display_(self):  # pragma: no cover - only used by IPython
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

"""Widgets that move without a kernel, and alt text for every figure, in the reading edition.

Two halves:

* **In the kernel** (``install_kernel_hooks``, run by the site build in a hidden first cell):
  every ``CourseWidget`` shown by the notebook also exports its precomputed pictures
  (``widget_frames``: the starting state, each control moved alone, the full grid where it is
  small) under the MIME type ``OFFLINE_MIME``, as palette PNGs; and every matplotlib figure
  shown by the inline backend records its titles (``describe_figure``) in the output's metadata,
  from which the page takes its alt text.
* **At build time** (``offline_widget_html``): the exported pictures become files (deduplicated
  by content) and the widget becomes plain HTML controls plus a few lines of JavaScript
  (``site_assets/site.js``) that swap the picture.  A combination of controls that was not
  precomputed resets the other controls to their starting positions, and the widget says so.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import re
from pathlib import Path
from typing import Iterator

OFFLINE_MIME = "application/vnd.vae-teach.offline-widget+json"
ALT_KEY = "vae_teach_alt"
MAX_STEPS = 17          # positions per slider in the reading edition
GRID_LIMIT = 450        # precompute every combination when there are at most this many
PALETTE_COLOURS = 256


# ----------------------------------------------------------------------------- kernel side

def describe_figure(fig) -> str:
    """The titles of a matplotlib figure as one line (suptitle, then each panel's title; panels
    without a title contribute their axis labels), or '' if it has none."""
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(suptitle.get_text().strip())
    panels = []
    for ax in fig.axes:
        title = " ".join(ax.get_title(loc).strip() for loc in ("left", "center", "right")
                         if ax.get_title(loc).strip())
        if not title:
            xlabel, ylabel = ax.get_xlabel().strip(), ax.get_ylabel().strip()
            if xlabel and ylabel:
                title = f"{ylabel} against {xlabel}"
        if title and title not in panels:
            panels.append(title)
    if panels:
        parts.append(f"{len(panels)} panels: " + "; ".join(panels[:12]) if len(panels) > 1
                     else panels[0])
    return ". ".join(parts)


def palette_png(png: bytes) -> bytes:
    """``png`` re-encoded with a 256-colour palette when that is smaller (matplotlib pictures
    shrink 2-3x; small grey digits are often smaller as they are)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    quantized = image.convert("RGB").quantize(colors=PALETTE_COLOURS,
                                               method=Image.Quantize.FASTOCTREE,
                                               dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    quantized.save(buffer, "PNG")              # optimize=True: 10% smaller, 3x slower
    small = buffer.getvalue()
    return small if len(small) < len(png) else png


def control_steps(widget, name: str, max_steps: int = MAX_STEPS) -> tuple[list, list[str], int]:
    """The positions the reading edition offers for control ``name`` of a ``CourseWidget``:
    ``(values, labels, start)`` with ``values[start]`` the control's current value.  Menus and
    buttons keep all their options; a slider keeps at most ``max_steps`` evenly spaced positions
    (plus its current one).  A control of another kind is held at its current value."""
    import ipywidgets as widgets

    control = widget.controls[name]
    value = control.value
    if hasattr(control, "_options_values"):            # Dropdown, ToggleButtons, SelectionSlider...
        values, labels = list(control._options_values), list(control._options_labels)
    elif isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        values, labels = [False, True], ["off", "on"]
    elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider)):
        n = int(round((control.max - control.min) / control.step)) + 1
        # evenly spaced steps, on round values where possible (every 10th step of 101...)
        k = max(k for k in range(2, max_steps + 1) if (n - 1) % (k - 1) == 0) \
            if n > max_steps else n
        picks = range(0, n, (n - 1) // (k - 1)) if k >= max_steps // 2 else \
            sorted({round(i * (n - 1) / (max_steps - 1)) for i in range(max_steps)})
        exponents = [control.min + i * control.step for i in picks]
        if isinstance(control, widgets.FloatLogSlider):
            values = [control.base ** e for e in exponents]
        elif isinstance(control, widgets.IntSlider):
            values = [int(e) for e in exponents]
        else:
            values = [round(e, 10) for e in exponents]
        if not any(math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12) for v in values):
            values = sorted(values + [value])
        fmt = getattr(control, "readout_format", "d" if isinstance(value, int) else ".2f")
        labels = [format(v, fmt) for v in values]
    else:
        values, labels = [value], [str(value)]
    start = next(i for i, v in enumerate(values) if v == value or (
        isinstance(v, float) and math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12)))
    return values, labels, start


def widget_frames(widget, max_steps: int = MAX_STEPS, grid_limit: int = GRID_LIMIT
                  ) -> Iterator[tuple[tuple[int, ...], bytes, str | None]]:
    """Pictures of a ``CourseWidget`` for a reader without a kernel: ``(step indices, png,
    status text)`` for the starting state, for each control moved alone through its
    ``control_steps``, and for every combination of the widget's ``offline_grid`` controls (of
    all controls, if there are at most ``grid_limit`` combinations).  The widget itself does not
    change."""
    names = list(widget.controls)
    steps = [control_steps(widget, name, max_steps) for name in names]
    start = tuple(s[2] for s in steps)
    sizes = [len(s[0]) for s in steps]
    grid = names if math.prod(sizes) <= grid_limit else \
        [n for n in widget.offline_grid if n in widget.controls]
    keys = {start: None}
    for i, size in enumerate(sizes):
        for j in range(size):
            keys[start[:i] + (j,) + start[i + 1:]] = None
    grid_axes = [range(sizes[names.index(n)]) if n in grid else [start[i]]
                 for i, n in enumerate(names)]
    if len(grid) > 1:
        for key in itertools.product(*grid_axes):
            keys[tuple(key)] = None
    try:
        for key in keys:
            values = {n: steps[i][0][k] for i, (n, k) in enumerate(zip(names, key))}
            result = widget.render(**values)
            png, text = result if isinstance(result, tuple) else (result, None)
            yield key, png, text
    finally:
        widget.render(**widget.values)    # render functions may record their latest state


def export_widget(widget, max_steps: int = MAX_STEPS, grid_limit: int = GRID_LIMIT) -> dict:
    """Everything the page needs to play ``widget`` without a kernel (JSON-ready)."""
    controls = []
    for name, control in widget.controls.items():
        values, labels, start = control_steps(widget, name, max_steps)
        kind = "slider" if "Slider" in type(control).__name__ else "menu"
        controls.append({"name": name, "description": control.description or name,
                         "kind": kind, "labels": labels, "start": start})
    frames = [{"key": list(key), "png": base64.b64encode(palette_png(png)).decode("ascii"),
               "text": text} for key, png, text in widget_frames(widget, max_steps, grid_limit)]
    grid = [n for n in widget.offline_grid if n in widget.controls]
    n_all = 1
    for c in controls:
        n_all *= len(c["labels"])
    if n_all <= grid_limit:
        grid = list(widget.controls)
    return {"title": widget.title, "controls": controls, "frames": frames, "grid": grid}


def install_kernel_hooks() -> None:
    """Run inside the notebook's kernel, before the notebook: course widgets export their
    offline pictures, inline matplotlib figures record their titles."""
    from vae_teach.widgets import CourseWidget

    if not getattr(CourseWidget, "_vae_teach_offline", False):
        plain_bundle = CourseWidget._repr_mimebundle_

        def bundle_with_frames(self, **kwargs):
            bundle = plain_bundle(self, **kwargs)
            bundle[OFFLINE_MIME] = export_widget(self)
            return bundle

        CourseWidget._repr_mimebundle_ = bundle_with_frames
        CourseWidget._vae_teach_offline = True

    try:
        import matplotlib_inline.backend_inline as inline
    except ImportError:     # pragma: no cover - the course requires ipykernel's inline backend
        return
    if not getattr(inline, "_vae_teach_alt", False):
        plain_metadata = inline._fetch_figure_metadata

        def metadata_with_alt(fig):
            metadata = dict(plain_metadata(fig) or {})
            metadata[ALT_KEY] = describe_figure(fig)
            return metadata

        inline._fetch_figure_metadata = metadata_with_alt
        inline._vae_teach_alt = True


KERNEL_SETUP = ("from vae_teach_tools.offline_widgets import install_kernel_hooks\n"
                "install_kernel_hooks()")


# ------------------------------------------------------------------------------ build side

GREEK = {r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\delta": "δ", r"\epsilon": "ε",
         r"\varepsilon": "ε", r"\theta": "θ", r"\lambda": "λ", r"\mu": "μ", r"\pi": "π",
         r"\sigma": "σ", r"\tau": "τ", r"\phi": "φ", r"\varphi": "φ", r"\psi": "ψ",
         r"\omega": "ω", r"\Sigma": "Σ", r"\mathrm{KL}": "KL", r"\approx": "≈", r"\mid": "|",
         r"\|": "‖", r"\le": "≤", r"\ge": "≥", r"\times": "×", r"\cdot": "·", r"\sim": "~",
         r"\infty": "∞", r"\to": "→", r"\log": "log", r"\,": " ", r"\;": " "}


def tex_to_text(text: str) -> str:
    """Mathtext / TeX in a title, as readable plain text for an alt attribute."""
    for tex, plain in sorted(GREEK.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(tex, plain)
    text = re.sub(r"\\(?:mathcal|mathbb|mathrm|mathbf|operatorname|text|hat|bar|tilde)\b", "", text)
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)
    text = text.replace("$", "").replace("{", "").replace("}", "").replace("_", "")
    return " ".join(text.split())


def _write_frames(frames: list, frames_dir: Path) -> dict:
    """Write each distinct picture once, named by its hash, into ``frames_dir``; return
    ``{"i,j,...": [file name, status text]}`` keyed by the controls' step indices."""
    frames_dir.mkdir(parents=True, exist_ok=True)
    table = {}
    for frame in frames:
        png = base64.b64decode(frame["png"])
        name = hashlib.sha256(png).hexdigest()[:20] + ".png"
        path = frames_dir / name
        if not path.exists():
            path.write_bytes(png)
        table[",".join(map(str, frame["key"]))] = [name, frame["text"] or ""]
    return table


def _control_row(i: int, control: dict) -> str:
    """One labelled HTML control (a range input for a slider, a menu otherwise) and its readout."""
    label = html.escape(control["description"])
    n = len(control["labels"])
    if control["kind"] == "slider":
        field = (f"<input type='range' data-control='{i}' min='0' max='{n - 1}' step='1' "
                 f"value='{control['start']}' aria-label='{label}'>")
    else:
        options = "".join(
            f"<option value='{j}'{' selected' if j == control['start'] else ''}>"
            f"{html.escape(str(text))}</option>" for j, text in enumerate(control["labels"]))
        field = f"<select data-control='{i}' aria-label='{label}'>{options}</select>"
    return (f"<label><span>{label}</span>{field}"
            f"<output>{html.escape(str(control['labels'][control['start']]))}</output></label>")


def offline_widget_html(payload: dict, frames_dir: Path, base: str = "frames/") -> str:
    """The widget as HTML controls + its starting picture; its pictures are written (once per
    distinct picture) into ``frames_dir``."""
    table = _write_frames(payload["frames"], frames_dir)
    controls = payload["controls"]
    start = [c["start"] for c in controls]
    start_name, start_text = table[",".join(map(str, start))]
    title = payload["title"] or "Interactive figure"
    settings = ", ".join(f"{c['description']} = {c['labels'][c['start']]}" for c in controls)
    status_plain = re.sub(r"<[^>]+>", " ", start_text)
    alt = f"{title} ({settings})" + (f": {' '.join(status_plain.split())}" if status_plain else "")

    rows = [_control_row(i, control) for i, control in enumerate(controls)
            if len(control["labels"]) > 1]
    # controls with a single position are not shown: the JavaScript indexes inputs by position
    shown = [i for i, c in enumerate(controls) if len(c["labels"]) > 1]
    data = {"title": title, "base": base, "start": [start[i] for i in shown],
            "controls": [{"description": controls[i]["description"],
                          "labels": controls[i]["labels"]} for i in shown],
            "frames": {}}
    for key, value in table.items():
        indices = [int(k) for k in key.split(",")]
        if all(indices[i] == start[i] for i in range(len(controls)) if i not in shown):
            data["frames"][",".join(str(indices[i]) for i in shown)] = value
    grid = payload.get("grid") or []
    together = (" and ".join(html.escape(controls[[c["name"] for c in controls].index(n)]
                                         ["description"]) for n in grid)
                if len(grid) > 1 else "")
    how = ("every combination of " + together + " is included"
           if together else "each control moves alone from the starting values")
    note = (f"<p class='vt-widget-note'>Reading edition: {len(table)} pictures computed when "
            f"this page was built; {how}. A slider offers at most {MAX_STEPS} evenly spaced "
            f"positions (and its starting value). "
            f"Other combinations need a live kernel: open the notebook in JupyterLab.</p>")
    json_text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (f"<div class='vt-widget' data-offline='1'>"
            f"<div class='vt-widget-title'>{html.escape(title)}</div>"
            f"<div class='vt-widget-row'><div class='vt-widget-controls'>{''.join(rows)}"
            f"<div class='vt-status'>{start_text}</div>"
            f"<p class='vt-combo-note' hidden>This combination was not precomputed, so the other "
            f"controls went back to their starting positions. Open the notebook in JupyterLab "
            f"to move several controls together.</p>{note}</div>"
            f"<img class='vt-widget-image' src='{base}{start_name}' alt='{html.escape(alt)}'>"
            f"</div><script type='application/json' class='vt-frames'>{json_text}</script></div>")

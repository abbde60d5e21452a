"""A finished chart: a caption under it (`add_caption`) and the chart saved as PNG and SVG (`save`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import altair as alt

from glamsim.files import atomic_path
from glamsim.plots.style import INK, PNG_SCALE, WIDTH


def add_caption(chart: alt.TopLevelMixin, text: str, width: int | None = None) -> alt.VConcatChart:
    """A small italic note under a chart (assumptions, what n/a means); the title stays on top.

    Parameters
    ----------
    chart : altair.TopLevelMixin
    text : str
        The note, wrapped to the chart's width.
    width : int, optional
        The width in pixels to wrap at (default 640).

    Returns
    -------
    altair.VConcatChart
    """
    lines = textwrap.wrap(" ".join(text.split()), max(60, int((width or WIDTH) / 6)))
    top = chart.copy(deep=True)
    title, top.title = top.title, alt.Undefined
    note = (
        alt.Chart(alt.Data(values=[{"line": ln, "i": i} for i, ln in enumerate(lines)]))
        .mark_text(align="left", baseline="top", fontStyle="italic", fontSize=10, color=INK)
        .encode(y=alt.Y("i:O", axis=None), x=alt.value(0), text="line:N")
        .properties(height=14 * len(lines), width=width or WIDTH, view=alt.ViewBackground(stroke=None))
    )
    return alt.vconcat(top, note, spacing=8, **({} if title is alt.Undefined else {"title": title}))


def save(chart: alt.TopLevelMixin, path_stem: str | Path) -> list[Path]:
    """Write a chart as PNG (at 2x) and SVG side by side, atomically, with vl-convert.

    Offline: the data is inline in the spec and no URL is fetched.

    Parameters
    ----------
    chart : altair.TopLevelMixin
    path_stem : str or pathlib.Path
        The path without its extension: `<path_stem>.png` and `<path_stem>.svg` are written.

    Returns
    -------
    list of pathlib.Path
        The two files written.
    """
    import vl_convert as vlc

    spec = chart.to_dict()
    out = []
    for ext, render in (
        ("png", lambda: vlc.vegalite_to_png(spec, scale=PNG_SCALE, allowed_base_urls=[])),
        ("svg", lambda: vlc.vegalite_to_svg(spec, allowed_base_urls=[]).encode()),
    ):
        target = Path(f"{path_stem}.{ext}")
        data = render()
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(data)
        out.append(target)
    return out


OFFLINE_RENDERER = "glamsim-offline"


def _offline_renderer(spec: dict, **metadata) -> dict:
    """The chart as SVG, drawn here by vl-convert: any notebook viewer shows it, online or not,
    trusted or not (the default HTML renderer loads Vega's scripts from a CDN, and an untrusted
    notebook never runs them).  Vega-Lite's own MIME type is left out: Altair 6 names it
    `application/vnd.vegalite.v6.json`, which nbformat's schema refuses to hold as a JSON object."""
    from altair.vegalite.v6.display import svg_renderer

    return svg_renderer(spec, **metadata)


def offline_charts() -> None:
    """Make notebooks draw glamsim's charts offline (`_offline_renderer`): call it once, at the top."""
    if OFFLINE_RENDERER not in alt.renderers.names():
        alt.renderers.register(OFFLINE_RENDERER, _offline_renderer)
    alt.renderers.enable(OFFLINE_RENDERER)

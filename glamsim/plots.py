"""Figures shared by every face (study command, dashboard, notebooks): DataFrames in, Figures out.

One style: white background, grid, readable fonts, axis labels spelled out with units (from the
output registry and the scenario fields, `glamsim.outputs.label`: `energy_mwh` -> "energy (MWh)"), log scales when a
positive axis spans more than 30x, and the dense baseline drawn black and dashed.  Figures are
plain `matplotlib.figure.Figure`s, outside pyplot's global state: no display or backend is needed
to save them, they are safe in the dashboard's threads, and a notebook shows them inline.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from glamsim import outputs
from glamsim.files import atomic_path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.frameon": False,
}
BASELINE = {"color": "black", "linestyle": "--", "linewidth": 1.8}
PALETTE = matplotlib.colormaps["tab10"].colors

def label(column: str) -> str:
    """A readable axis label with the unit: the output registry's (`glamsim.outputs.label`)."""
    return outputs.label(column)


def _si(v, _pos=None, billions: str = "G") -> str:
    """Compact tick text: 1.2e12 -> 1.2T (parameter counts use B for 1e9, everything else G)."""
    a = abs(v)
    for unit, scale in (("T", 1e12), (billions, 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:g}{unit}"
    return f"{v:g}"


def _auto_log(values) -> bool:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return bool(len(v)) and (v > 0).all() and v.max() / v.min() > 30


def _style_axis(ax, x: str | None, y: str, logx: bool, logy: bool) -> None:
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    for axis, log, col in ((ax.xaxis, logx, x), (ax.yaxis, logy, y)):
        if col is not None:
            b = "B" if col.startswith("params") else "G"
            axis.set_major_formatter(FuncFormatter(lambda v, p, b=b: _si(v, p, b)))
        if log:  # ticks at 1, 2, 5 x 10^n: a log axis spanning one decade still gets labels
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    if not logy and ax.get_ylim()[0] > 0:
        ax.set_ylim(bottom=0)  # linear axes start at zero: a small change looks small
    if x:
        ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))


def _figure(n_panels: int, title: str, width: float = 5.2, height: float = 3.8,
            stacked: bool = False) -> tuple[Figure, list]:
    """Panels side by side (or stacked, for wide bar charts) under one bold title."""
    rows, cols = (n_panels, 1) if stacked else (1, n_panels)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, sharex=stacked)
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return fig, list(axes.reshape(-1))


def _ys(y) -> list[str]:
    return [y] if isinstance(y, str) else list(y)


def select(df: pd.DataFrame, where: dict | None) -> pd.DataFrame:
    for k, v in (where or {}).items():
        df = df[df[k] == v]
    return df


def plot_sweep(df: pd.DataFrame, x: str, y, hue: str | None = None, baseline=None, *,
               logx: bool | None = None, logy: bool | None = None, title: str = "",
               where: dict | None = None) -> Figure:
    """Lines of y against x, one per hue value (one panel per y); the `baseline` hue value
    (the dense model) is drawn black and dashed."""
    df = select(df, where)
    ys = _ys(y)
    fig, axes = _figure(len(ys), title, width=6.6 if len(ys) == 1 else 5.2)
    groups = list(df.groupby(hue, sort=False)) if hue else [(None, df)]
    swept = df if baseline is None or not hue else df[df[hue] != baseline]
    lx = _auto_log(swept[x]) if logx is None else logx
    for ax, yc in zip(axes, ys):
        for i, (key, g) in enumerate(groups):
            g = g.sort_values(x)
            is_base = baseline is not None and key == baseline
            kw = dict(BASELINE) if is_base else {"color": PALETTE[i % len(PALETTE)], "linewidth": 1.8}
            name = f"{key} (dense baseline)" if is_base else (str(key) if hue else None)
            if is_base and g[x].nunique() == 1:  # a single dense point: a reference line across the sweep
                ax.axhline(g[yc].iloc[0], label=name, **kw)
            else:
                ax.plot(g[x], g[yc], marker="o", markersize=3.5, label=name, **kw)
        _style_axis(ax, x, yc, lx, _auto_log(df[yc]) if logy is None else logy)
        if len(ys) > 1:
            ax.set_title(label(yc))
    if hue:
        _legend(axes[-1], label(hue))
    return fig


def _legend(ax, title: str | None) -> None:
    """The legend right of the last panel, where it never hides a line."""
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def plot_bars(df: pd.DataFrame, x: str, y, hue: str | None = None, baseline=None, *,
              logy: bool | None = None, title: str = "", where: dict | None = None) -> Figure:
    """Grouped bars of y per x category (one bar per hue value, one panel per y), values printed on
    the bars ("n/a" where the value is missing, e.g. a chip without a public price); the
    `baseline` hue value is drawn hatched grey.  Linear y unless `logy` (bars compare lengths)."""
    df = select(df, where)
    ys = _ys(y)
    cats = list(dict.fromkeys(df[x]))
    hues = list(dict.fromkeys(df[hue])) if hue else [None]
    width = 0.8 / len(hues)
    panel_w = max(4.5, 0.55 * len(cats) * len(hues) + 2.0)
    stacked = panel_w * len(ys) > 16
    fig, axes = _figure(len(ys), title, width=min(panel_w, 14), height=3.4 if stacked else 3.8, stacked=stacked)
    for ax, yc in zip(axes, ys):
        for j, h in enumerate(hues):
            sub = df if h is None else df[df[hue] == h]
            vals = [sub.loc[sub[x] == c, yc].iloc[0] if (sub[x] == c).any() else np.nan for c in cats]
            pos = np.arange(len(cats)) + (j - (len(hues) - 1) / 2) * width
            is_base = baseline is not None and h == baseline
            kw = {"color": "0.75", "hatch": "//", "edgecolor": "black"} if is_base else {"color": PALETTE[j % 10]}
            name = f"{h} (dense baseline)" if is_base else (str(h) if hue else None)
            bars = ax.bar(pos, np.nan_to_num(vals), width=width * 0.95, label=name, **kw)
            ax.bar_label(bars, labels=[_si(float(f"{v:.3g}")) if np.isfinite(v) else "n/a" for v in vals],
                         fontsize=7.5, padding=1.5)
        many = len(cats) > 8
        ax.set_xticks(np.arange(len(cats)), [textwrap.fill(str(c), 16) for c in cats],
                      rotation=30 if many else 0, ha="right" if many else "center")
        _style_axis(ax, None, yc, False, bool(logy))
        if ax is axes[-1] or not stacked:
            ax.set_xlabel(label(x))
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.12)
        if len(ys) > 1:
            ax.set_title(label(yc))
    if hue:
        axes[-1].legend(title=label(hue), loc="best")
    return fig


def plot_energy_comparison(df: pd.DataFrame, x: str = "chip", hue: str | None = "model", baseline=None, *,
                           y=("energy_mwh", "co2e_t", "cost_usd"), title: str = "Training energy, carbon and cost",
                           where: dict | None = None) -> Figure:
    """Energy, carbon and dollars side by side (the GLaM vs GPT-3 comparison of the paper's Table 1)."""
    return plot_bars(df, x, list(y), hue, baseline, title=title, where=where, logy=False)


def sensitivity_table(df: pd.DataFrame, output: str, varied: str = "varied", base: str = "base") -> pd.DataFrame:
    """From a one-at-a-time sweep, the tornado table in `glamsim.cost.uncertainty.tornado`'s format:
    per varied input its low, nominal and high value, the output at low and high, and the swing,
    largest swing first."""
    df = df[df[varied].notna()]
    base_row = df.loc[df[varied] == base].iloc[0]
    rows = []
    for name, g in df[df[varied] != base].groupby(varied, sort=False):
        col = name.removeprefix("model.")
        g = g.sort_values(col)
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append({"input": col, "low": lo[col], "nominal": base_row[col], "high": hi[col],
                     f"{output}_at_low": float(lo[output]), f"{output}_at_high": float(hi[output]),
                     f"{output}_swing": abs(float(hi[output]) - float(lo[output]))})
    out = pd.DataFrame(rows)
    return out.sort_values(f"{output}_swing", ascending=False, ignore_index=True) if len(out) else out


def plot_tornado(sens: pd.DataFrame, output: str, base: float, *, title: str = "") -> Figure:
    """A tornado chart of a sensitivity table (`glamsim.cost.uncertainty.tornado` or
    `sensitivity_table`): per input a bar from the output at its low value to the output at its
    high value, largest swing on top, the output with every input at its nominal value as a line."""
    order = sens.sort_values(f"{output}_swing").reset_index(drop=True)
    fig, (ax,) = _figure(1, title or f"What moves {label(output)}", width=7.5, height=0.55 * len(order) + 1.9)
    seen: set[str] = set()
    for i, r in order.iterrows():
        if r[f"{output}_swing"] == 0:
            ax.annotate(f"no effect ({r['low']:g} to {r['high']:g})", (base, i), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=8)
            continue
        for end, color in (("low", PALETTE[0]), ("high", PALETTE[3])):
            val = r[f"{output}_at_{end}"]
            ax.barh(i, val - base, left=base, color=color, height=0.6,
                    label=f"input at its {end} value" if end not in seen else None)
            seen.add(end)
            ax.annotate(f"{r[end]:g}", (val, i), xytext=(4 if val >= base else -4, 0), textcoords="offset points",
                        va="center", ha="left" if val >= base else "right", fontsize=8)
    ax.axvline(base, **BASELINE, label=f"all inputs nominal: {_si(float(f'{base:.4g}'))}")
    ax.set_yticks(range(len(order)), [f"{label(s)}\n(nominal {n:g})" for s, n in zip(order["input"], order["nominal"])])
    ax.set_xlabel(label(output))
    ax.xaxis.set_major_formatter(FuncFormatter(_si))
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.18, y=0.08)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_experts_touched(df: pd.DataFrame, x: str = "batch", y: str = "experts_touched_fraction",
                         hue: str | None = "n_experts", *, title: str = "", where: dict | None = None) -> Figure:
    """The share of an MoE layer's experts a decoding step reads, against batch size: where it
    reaches 1, MoE decoding moves as many weight bytes as a dense model of its total size."""
    fig = plot_sweep(df, x, y, hue, title=title or "Experts read per decoding step", logx=True, logy=False,
                     where=where)
    ax = fig.axes[0]
    ax.axhline(1.0, **BASELINE, label="every expert read")
    ax.set_ylim(0, 1.08)
    _legend(ax, label(hue) if hue else None)
    return fig


def add_caption(fig: Figure, text: str) -> Figure:
    """A small italic note under the figure (assumptions, what n/a means)."""
    fig.text(0.0, 0.0, textwrap.fill(text, 150), fontsize=8, style="italic", va="top", ha="left")
    return fig


def save(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write the figure as PNG and SVG next to each other (atomically)."""
    out = []
    for ext in ("png", "svg"):
        target = Path(f"{path_stem}.{ext}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight")
        out.append(target)
    return out

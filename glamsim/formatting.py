"""Number formatting, JSON cleaning and safe error lines shared by every face (command line,
dashboard, notebooks)."""

from __future__ import annotations

import math
import re

ERROR_LINE_LIMIT = 300  # characters of one error line, ellipsis included
# C0 and C1 controls, DEL, and the marks and overrides that reorder text (bidirectional formatting)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_line(text: str, limit: int = ERROR_LINE_LIMIT) -> str:
    """A message as one printable line: control and bidirectional characters escaped (a newline
    reads `\\n`, ESC `\\x1b`, a right-to-left override `\\u202e`), so nothing a user typed can
    split the line, fake another or restyle the terminal; at most `limit` characters, cut with an
    ellipsis."""
    text = _UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jsonable(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, keys to strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def fmt(v) -> str:
    """Compact human formatting: 1.16e+12 -> '1.162T'; None/NaN -> '-'; >= 1e18 in scientific notation."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if not math.isfinite(v):
        return "-"
    a = abs(v)
    if a >= 1e18:
        return f"{v:.4g}"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:.4g}{unit}"
    return f"{v:.4g}"


COUNT_SCALES = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3))  # parameters and tokens: 174.6B, not 174.6G


def fmt_count(v) -> str:
    """A count of parameters or tokens as people write it: 174.6B, 1.162T, 600B, 32k; >= 1e15 in
    scientific notation; None/NaN -> '-'."""
    if not _finite_number(v):
        return fmt(v)
    a = abs(v)
    if a >= 1e15:
        return f"{v:.4g}"
    for unit, scale in COUNT_SCALES:
        if a >= scale:
            return f"{v / scale:.4g}{unit}"
    return f"{v:.4g}"


def fmt_int(v) -> str:
    """A whole number with thousands separators: 2,048 (chips, steps); None/NaN -> '-'."""
    if not _finite_number(v):
        return fmt(v)
    return f"{v:.4g}" if abs(v) >= 1e15 else f"{round(v):,}"


def fmt_about(v) -> str:
    """An approximate count (everyday equivalents: 3.7 vehicle-years, 1,947 gallons): whole with
    thousands separators from 10, two significant digits below; None/NaN -> '-'."""
    if not _finite_number(v):
        return fmt(v)
    return fmt_int(v) if abs(v) >= 10 else f"{v:.2g}"


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

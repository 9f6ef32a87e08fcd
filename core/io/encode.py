"""Untrusted text made safe for the place it is shown: one function per sink.

Names of tensors, files and folders, config values, attribute names, probe texts and log series come
from strangers' files. Each is text wherever it lands: never Markdown (Streamlit), HTML or a script
(the report, the sweep leaderboard), live Plotly markup (labels, hover text, legend names), a
spreadsheet formula (CSV downloads) or a terminal escape (the CLI). Callers pass the untrusted string
through the function of the sink it is going to; text the product wrote itself needs none.
"""

from __future__ import annotations

import html
import json
import re
import string
import unicodedata
from typing import Any

# Characters that change what a terminal or a reader sees without being text: C0 / C1 controls,
# DEL, the line and paragraph separators and the bidirectional overrides that reorder a line.
_INVISIBLE = {0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F}
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ENTITY = re.compile(r"&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Plotly draws a small set of tags without attributes in titles it builds from our own words
# ("share<br>(grey: unused)", "<sup>note</sup>"); anything else is shown as the text it is.
_PLOTLY_OWN_TAGS = re.compile(r"<(/?(?:br|b|i|sup|sub))>", re.IGNORECASE)
# Trace fields whose strings are data (category labels, hover text, legend names, custom data):
# escaped whole. Template fields (hovertemplate, texttemplate) are the product's own and keep their
# markup; the values they pull in are escaped here.
_PLOTLY_DATA_FIELDS = (
    "x",
    "y",
    "z",
    "text",
    "hovertext",
    "customdata",
    "name",
    "labels",
    "ids",
    "legendgroup",
    "parents",
)


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or ord(char) in _INVISIBLE


def _visible(char: str) -> str:
    """A control character written out: '\\x1b', '\\n', '\\u202e'."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: object) -> str:
    """`text` for a terminal line: every control character (ESC, BEL, CR, newline, tab, the C1 set)
    and every bidirectional override written out as an escape, so a name cannot move the cursor, set
    the title, clear the screen or forge a line."""
    return "".join(_visible(c) if _is_invisible(c) else c for c in str(text))


def markdown(text: object) -> str:
    """`text` for a Markdown renderer (st.markdown, st.error, captions, labels): every ASCII punctuation
    mark backslash-escaped (no link, image, emphasis, code, HTML, math or directive can start), control
    characters written out, so a name shows as the characters it holds."""
    out = []
    for char in str(text):
        if _is_invisible(char):
            out.append(_visible(char))
        elif char in _MARKDOWN_PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def html_text(text: object) -> str:
    """`text` for HTML element content and quoted attribute values (& < > " ' escaped)."""
    return html.escape(str(text), quote=True)


def script_json(value: Any, **dumps: Any) -> str:
    """`value` as JSON that can sit inside a <script> element: <, >, & and U+2028 / U+2029 written as
    \\u escapes, so no text in it ends the script, opens a comment (`<!--`) or breaks a line."""
    text = value if isinstance(value, str) else json.dumps(value, **dumps)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def plotly_text(text: object) -> str:
    """`text` for Plotly (a label, hover text, a legend name): < and > as entities and & unless it
    already starts an entity, control characters written out, so `<a href=...>` shows as text."""
    out = str(text)
    out = _ENTITY.sub(lambda m: "\0" + m.group(1) + ";", out).replace("&", "&amp;").replace("\0", "&")
    out = out.replace("<", "&lt;").replace(">", "&gt;")
    return "".join(_visible(c) if _is_invisible(c) else c for c in out)


def _plotly_title(text: str) -> str:
    """A title the product built: its own plain tags stay, every other < > is escaped."""
    parts = _PLOTLY_OWN_TAGS.split(text)
    return "".join(f"<{part}>" if i % 2 else plotly_text(part) for i, part in enumerate(parts))


def _escape_values(value: Any) -> Any:
    import numpy as np

    if isinstance(value, str):
        return plotly_text(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "USO":
            return np.vectorize(_escape_values, otypes=[object])(value) if value.size else value
        return value
    if isinstance(value, list | tuple):
        return type(value)(_escape_values(v) for v in value)
    return value


def _walk_layout(node: Any) -> None:
    """Escape every `text` / `ticktext` under a layout node (titles, annotations, colorbars, legends)."""
    from plotly.basedatatypes import BasePlotlyType

    if isinstance(node, tuple | list):
        for item in node:
            _walk_layout(item)
        return
    if not isinstance(node, BasePlotlyType):
        return
    for prop in list(node._props or {}):
        if prop == "template":  # the theme: the product's own, and large
            continue
        try:
            value = node[prop]
        except (KeyError, ValueError):
            continue
        if prop == "text" and isinstance(value, str):
            node[prop] = _plotly_title(value)
        elif prop == "ticktext" and value is not None:
            node[prop] = _escape_values(value)
        elif isinstance(value, BasePlotlyType | tuple | list):
            _walk_layout(value)


def inert_figure(figure: Any) -> Any:
    """`figure` (a plotly Figure, changed in place and returned) with no live markup from data: every
    string in the traces' data fields escaped, animation frames included (category labels, hover text, legend names, custom data
    read by hover templates), and titles, annotations and tick labels escaped except the product's own
    plain <br> / <b> / <i> / <sup> / <sub> tags."""
    traces = [*figure.data, *(trace for frame in figure.frames or () for trace in frame.data)]
    for trace in traces:
        for prop in _PLOTLY_DATA_FIELDS:
            if prop in trace and trace[prop] is not None:
                trace[prop] = _escape_values(trace[prop])
        _walk_layout([trace[p] for p in ("marker", "colorbar", "title") if p in trace])
    _walk_layout(figure.layout)
    return figure


def csv_cell(value: Any) -> Any:
    """A cell for a CSV file or a table a spreadsheet may open: text starting with = + - @ or a tab /
    carriage return gets a leading apostrophe, so it is never read as a formula. Numbers, and text
    that is a plain number ("-0.5", "+3"), are left as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def csv_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with every text cell and column name passed through `csv_cell`."""
    from pandas.api.types import is_numeric_dtype

    safe = frame.copy()
    safe.columns = [csv_cell(str(c)) for c in safe.columns]
    for i in range(safe.shape[1]):
        if not is_numeric_dtype(safe.iloc[:, i]):
            safe.isetitem(i, safe.iloc[:, i].map(csv_cell))
    return safe

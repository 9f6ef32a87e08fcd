"""The colours every figure, page and report shares (pure constants; no Streamlit)."""

from __future__ import annotations

# One colour for checkpoint A and one for B on every page, figure and report (Okabe-Ito vermilion and
# blue: told apart with any colour vision, on white and on a dark background); further series go on.
SLOT_COLOURS = {"A": "#D55E00", "B": "#0072B2"}
PALETTE = (SLOT_COLOURS["A"], SLOT_COLOURS["B"], "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
# Threshold and reference lines (uniform 1/K, free-bits floor, active threshold): a mid grey that reads on
# the light and the dark theme alike (Plotly's default line colour is near black, invisible when dark).
GUIDE_COLOUR = "#8c8c8c"


def series_colour(label: str, index: int) -> str:
    """The colour of a series: A's or B's when `label` names that slot ('A', 'B: run/file.pt',
    'A epoch 3'), else the `index`-th colour of PALETTE (A's first, B's second)."""
    head = str(label)[:2]
    slot = head[:1]
    if slot in SLOT_COLOURS and (len(head) == 1 or not head[1].isalnum()):
        return SLOT_COLOURS[slot]
    return PALETTE[index % len(PALETTE)]

"""The answer first: the verdict strip every page opens with, and the one picture that shows it.

The strip holds one cell per sidebar checkpoint (A, and B when chosen): what collapsed, the headline number
with its meaning, the checkpoint's name, and the fix in one plain sentence with the details behind a click.
Names come from untrusted files: they are escaped before they reach Markdown.
"""

from __future__ import annotations

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.report.verdict import Verdict, stored_verdict, verdict_of
from ui import cache, state
from ui.widgets import SEVERITY_ICON, chart, md, outputs_table, short_name

# The Markdown colours nearest to core.plots.SLOT_COLOURS (A vermilion, B blue).
SLOT_BADGE = {"A": ":orange-badge[**A**]", "B": ":blue-badge[**B**]"}
STRIP_KEY = "verdict_strip"
PICTURE_HEIGHT = 400  # px: title, strip and picture inside a 1400 x 900 screen
MAX_LEGEND = 8


def plain(text: object) -> str:
    """`text` with every Markdown (and Streamlit directive) character escaped, so it shows as typed."""
    return md(" ".join(str(text).split()))


def slots(b: str | None = None) -> list[tuple[str, str]]:
    """(slot label, path) of the sidebar's checkpoints: A, then B when one is chosen (or `b`)."""
    chosen = [("A", state.selected_path("a")), ("B", b or state.selected_path("b"))]
    return [(slot, path) for slot, path in chosen if path is not None]


def verdict(path: str) -> Verdict:
    """The verdict of a checkpoint on the sidebar's probe: the stored one of a shipped demo file (see
    `stored_verdict`; measured on the CPU without a builder, as here by default), else the cached
    diagnosis's; unreadable means undefined."""
    trust = state.trusted()
    try:
        probe = cache.resolve_probe(path, state.probe_path())
        if state.device() == "cpu" and not cache.builds(path, trust):
            found = stored_verdict(path, probe)
            if found is not None:
                return found
        return verdict_of(cache.report(path, probe, trust))
    except CollapseExplorerError as exc:
        return Verdict("undefined", "could not be read", " ".join(str(exc).split()))
    except OSError as exc:  # the file went away (or never was) since it was chosen
        return Verdict("undefined", "could not be read", exc.strerror or "the file cannot be read")


def _cell(slot: str, path: str) -> None:
    found = verdict(path)
    st.markdown(
        f"{SEVERITY_ICON[found.severity]} {SLOT_BADGE[slot]} **{plain(found.what)}**  \n{plain(found.headline)}"
    )
    st.caption(plain(short_name(path)))
    if found.fix:
        st.markdown(f"**Fix:** {plain(found.fix)}")
        with st.popover("How, in detail", icon=":material/build:"):
            st.markdown(plain(found.details))


def strip(*, b: str | None = None, note: str = "") -> None:
    """The verdict strip of the sidebar's A and B (or `b`, e.g. Compare's demo counterpart), side by
    side (stacked on a narrow screen); `note` says how the page's own numbers were measured when that
    differs from the diagnosis."""
    chosen = slots(b)
    if not chosen:
        return
    with st.container(border=True, key=STRIP_KEY):
        for column, (slot, path) in zip(st.columns(len(chosen)), chosen, strict=True):
            with column:
                _cell(slot, path)
        if note:
            st.caption(plain(note))


FLOW_TARGETS_NOTE = (
    "The verdict flows every probe row with one attribute flipped (row i flips attribute i mod A), as this "
    "page does until targets are chosen per attribute below; then its numbers (silhouette, distinct "
    "endpoints) are those of the chosen targets."
)


def family(path: str | None) -> str | None:
    """The model family of a checkpoint (None when it cannot be rebuilt)."""
    if path is None:
        return None
    try:
        return cache.adapter(path, state.trusted()).spec().family
    except CollapseExplorerError:
        return None


def compact(figure, height: int = PICTURE_HEIGHT) -> bool:
    """Fit a figure beside the strip in the first screen: at most `height` px high, and no legend of
    more than a few entries (a flow's 32 target combinations would take the picture's place). Returns
    whether the legend is kept."""
    if (figure.layout.height or 450) > height:  # Streamlit draws an unset height at 450 px
        figure.update_layout(height=height)
    if len(figure.data) <= MAX_LEGEND:  # a legend above the plot leaves it the width of a narrow screen
        figure.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0})
    if sum(1 for trace in figure.data if trace.showlegend is not False) > MAX_LEGEND:
        figure.update_layout(showlegend=False, margin={"b": 20})
        return False
    return True


def _draw(found: object, key: str) -> None:
    import pandas as pd

    from core.report.html import Table

    if isinstance(found, Table):
        st.markdown(f"**{plain(found.title)}**")
        # A's and B's outputs first: a narrow screen scrolls the reference out of view, not them.
        outputs_table(pd.DataFrame(list(found.rows), columns=list(found.columns)), key=key)
        if found.caption:
            st.caption(plain(found.caption))
    else:
        chart(found, key=key)


def picture(path_a: str, path_b: str | None = None, *, key: str, height: int = 0) -> bool:
    """The one picture that shows the verdict, of A and B (on A's probe) when B is of A's family:
    flow, the endpoints in their joint frames; codebook, the usage strip; posterior, KL per dimension;
    text, the outputs table; at most `height` (else PICTURE_HEIGHT) px high. Where probe data is missing, says where to give it and offers an uploader
    in place. Returns whether a picture was drawn."""
    from core.report.html import Table

    kind = family(path_a)
    if path_b is not None and family(path_b) != kind:
        st.caption("B is a model of another family: the picture shows A alone.")
        path_b = None
    try:
        if kind == "flow":
            from ui import flow

            shown = flow.alone_figure(path_a) if path_b is None else flow.compare_figure(path_a, path_b)
        else:
            found = cache.pictures(path_a, path_b, state.probe_path(), state.trusted())
            shown = found[0] if found else None
    except CollapseExplorerError as exc:
        st.warning(plain(exc))
        probe_uploader(key=f"{key}_probe")
        return False
    if shown is None:
        if kind in ("codebook", "posterior", "text"):
            st.info(f"No picture of this {kind} model without probe data.")
            probe_uploader(key=f"{key}_probe")
        return False
    legend = isinstance(shown, Table) or compact(shown, height or PICTURE_HEIGHT)
    _draw(shown, key)
    if not legend:
        st.caption("One colour per target combination; the Trajectories page has their legend.")
    return True


def probe_uploader(*, key: str) -> None:
    """Probe data given where it is missing: the file is kept for this session and used as the
    sidebar's probe data (the sidebar's own picker still wins when set)."""
    st.caption(
        "Probe data: a .npz / .safetensors file with `embeddings` [N, D] and `attributes` [N, A] (flows), "
        "`x` [N, ...] (codebooks, VAEs) or `embeddings` and `texts` (text generators). Give it here or in the "
        "sidebar under 'Probe data, trust and device'; probe.npz beside the checkpoint is used by itself."
    )
    upload = st.file_uploader("Upload probe data", type=["npz", "safetensors"], key=key)
    if upload is None:
        return
    from ui import widgets

    path, problem = widgets.stored(upload)
    if problem:
        st.error(plain(problem))
        return
    st.session_state[state.PAGE_PROBE_KEY] = path
    st.rerun()

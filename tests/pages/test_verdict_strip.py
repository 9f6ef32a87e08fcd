"""The answer first: every page opens with the verdict strip of A and B, before any control."""

import pytest

from core.io.paths import DEMO_DIR, demo_checkpoints
from tests.pages.helpers import run_page

CONTROLS = {
    "button",
    "checkbox",
    "color_picker",
    "date_input",
    "download_button",
    "file_uploader",
    "multiselect",
    "number_input",
    "radio",
    "select_slider",
    "selectbox",
    "slider",
    "text_area",
    "text_input",
    "toggle",
}
# The demo's collapsed A and fixed B of each family: what the strip must say of each.
WORDS = {
    "flow": (
        "flow/collapsed",
        "flow/fixed",
        ("prototype collapse", "32 distinct endpoints from 1,000 inputs: collapsed"),
        ("no prototype collapse", "988 distinct endpoints from 1,000 inputs: ok"),
    ),
    "codebook": (
        "codebook/collapsing",
        "codebook/fixed",
        ("codebook collapse", "10 of 64 codes used (84% dead): collapsed"),
        ("no codebook collapse", "64 of 64 codes used (0% dead): ok"),
    ),
    "posterior": (
        "posterior/collapsed",
        "posterior/fixed",
        ("posterior collapse", "0 of 8 latent units active: collapsed"),
        ("no posterior collapse", "8 of 8 latent units active: ok"),
    ),
    "text": (
        "text/collapsed",
        "text/fixed",
        ("mode collapse", "1 distinct output for 64 inputs: collapsed"),
        ("no mode collapse", "64 distinct outputs for 64 inputs: ok"),
    ),
}
FIX = {
    "flow": "Keep the endpoints apart: add an identity loss and train on targets that flip only 1-2 attributes "
    "of each input.",
    "codebook": "Bring the dead codes back: reseed unused codes from recent encoder outputs and start the "
    "codebook from the data.",
    "posterior": "Keep the latent in use: give each latent dimension a free-bits floor and normalise the input "
    "features.",
    "text": "Let the decoder see its input and decode by sampling instead of always taking the likeliest word.",
}
PAGES = [
    ("overview", "flow"),
    ("trajectories", "flow"),
    ("generation", "text"),
    ("codebook", "codebook"),
    ("latents", "posterior"),
    ("compare", "posterior"),
    ("timeline", "codebook"),
    ("training", "flow"),
    ("runs", "flow"),
]


def _last(run: str) -> str:
    return str([p for p in demo_checkpoints() if p.parent == DEMO_DIR / run][-1])


def _in_order(node):
    """Every element under `node`, depth first in page order (blocks before their children)."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _in_order(child)


def _unescaped(text: str) -> str:
    return text.replace("\\", "")


@pytest.mark.parametrize(("page", "family"), PAGES)
def test_page_opens_with_the_verdict_of_a_and_b_before_any_control(page, family):
    run_a, run_b, words_a, words_b = WORDS[family]
    at = run_page(page, checkpoint_a=_last(run_a), checkpoint_b=_last(run_b))
    assert not at.exception
    elements = list(_in_order(at.main))
    texts = [(i, _unescaped(str(getattr(e, "value", "")))) for i, e in enumerate(elements)]
    first_control = next((i for i, e in enumerate(elements) if e.type in CONTROLS), len(elements))
    for slot, (what, number) in (("A", words_a), ("B", words_b)):
        heads = [i for i, text in texts if f"[**{slot}**] **{what}**  \n" in text]
        numbers = [i for i, text in texts if text.endswith(f"**{what}**  \n{number}")]
        assert heads and numbers, f"{page}: no verdict for {slot} ({what}; {number})"
        assert heads[0] < first_control and numbers[0] < first_control, f"{page}: a control comes first"
    fixes = [text for _, text in texts if text.startswith("**Fix:** ")]
    assert fixes == [f"**Fix:** {FIX[family]}"], "A's fix in one plain sentence, none for the fixed B"
    assert elements[0].type == "title" or at.title[0].value


def test_the_strip_escapes_names_from_untrusted_files():
    from ui.verdict import plain

    assert plain("run_[x](javascript:1) :red[x] **b** <i>") == (
        r"run\_\[x\]\(javascript\:1\) \:red\[x\] \*\*b\*\* \<i\>"
    )

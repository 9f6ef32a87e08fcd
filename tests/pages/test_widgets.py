"""Shared widgets rendered on their own: a report's findings section."""

from streamlit.testing.v1 import AppTest

from tests.pages.helpers import plain


def _findings_script():
    import streamlit as st

    from core.diagnosis import Finding, Report
    from ui import widgets

    report = Report(
        "run/ckpt.pt",
        "fake",
        (Finding("codebook", "collapse", "3 of 512 codes used", fix="restart dead codes"),),
        ("probe x must be [N, 64]",),
    )
    if st.session_state.get("as_error"):
        widgets.findings_section(report, show_errors_as=st.error)
    else:
        widgets.findings_section(report)


def test_findings_section_shows_cards_then_errors_as_warnings_or_errors():
    at = AppTest.from_function(_findings_script, default_timeout=60).run()
    assert not at.exception
    assert "**codebook: collapse**" in plain(at.markdown[0].value) and "3 of 512 codes used" in plain(
        at.markdown[0].value
    )
    assert plain(at.markdown[1].value) == "**Known fix:** restart dead codes"
    assert [plain(w.value) for w in at.warning] == ["probe x must be [N, 64]"] and not at.error

    at.session_state["as_error"] = True
    at.run()
    assert [plain(e.value) for e in at.error] == ["probe x must be [N, 64]"] and not at.warning


def test_metric_rows_say_how_to_read_them_in_words():
    from core.metrics import all_metrics
    from ui.widgets import reading

    table = all_metrics()
    assert (
        reading(table["distinct_endpoints"])
        == "higher is better: more inputs end at a point of their own · count"
    )
    assert reading(table["kl_total"]) == (
        "depends: near 0 is posterior collapse, but above what the data needs more KL is not better"
    )
    assert reading(table["step_mean"]) == "not judged: the size of the flow's steps"
    assert reading(None) == ""

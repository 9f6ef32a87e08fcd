"""The URL sync's registry and value encoding (ui/state.py)."""

import pytest

from ui.state import URL_KEYS, decode, encode, synced


@pytest.mark.parametrize(
    "value",
    ["flow/collapsed", "12", "true", "null", '"quoted"', "[1]", 0.05, 3, True, False, [1.0, 3.0], ["a", "b"]],
)
def test_values_round_trip_through_a_query_parameter(value):
    text = encode(value)
    assert isinstance(text, str) and decode(text) == value
    assert type(decode(text)) is type(value)


def test_plain_strings_stay_readable_and_non_values_are_never_mirrored():
    assert encode("flow/collapsed") == "flow/collapsed" and encode("12") == '"12"'
    assert encode("") is None  # an empty text box is the default
    assert encode(float("nan")) is None and encode({"selection": {}}) is None and encode(None) is None
    assert decode("{}") == "{}" and decode("not json") == "not json"


def test_registry_scopes_keys_to_their_page():
    assert synced("source_a", "codebook") and synced("demo_epoch_b", "overview")  # the sidebar: every page
    assert synced("cb_threshold", "codebook") and not synced("cb_threshold", "latents")
    assert synced("traj_steps", "trajectories") and synced("traj_control_0", "trajectories")
    assert synced("timeline_run", "timeline")
    assert not synced("trust_files", "overview") and not synced("_tr_series_run", "training")
    assert not synced("checkpoint_a", "overview")  # derived state, not a control
    assert synced("cb_log", None) and not synced("anything_else", None)
    assert set(URL_KEYS) >= {"", "overview", "trajectories", "generation", "codebook", "latents", "compare"}

import dataclasses
import warnings

import pytest

from core.config import SamplingConfig


def test_defaults_are_greedy_and_map_to_generation_config():
    config = SamplingConfig()
    generation = config.to_generation_config(pad_token_id=0, eos_token_id=1)
    assert generation.do_sample is False
    assert generation.num_beams == 1
    assert generation.max_new_tokens == 32
    assert (generation.pad_token_id, generation.eos_token_id) == (0, 1)
    assert config.inert_settings() == []


def test_sampling_settings_reach_generation_config():
    config = SamplingConfig(do_sample=True, temperature=0.7, top_k=40, top_p=0.9, repetition_penalty=1.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generation = config.to_generation_config()
    assert generation.do_sample is True
    assert (generation.temperature, generation.top_k, generation.top_p) == (0.7, 40, 0.9)
    assert generation.repetition_penalty == 1.2


def test_temperature_zero_means_greedy():
    config = SamplingConfig(temperature=0.0)
    assert not config.sampling
    assert config.to_generation_config().do_sample is False
    assert config.inert_settings() == [
        "temperature has no effect without sampling (decoding is greedy or beam search)"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
        ({"top_p": 1.5}, "top_p must be in \\(0, 1\\]"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"num_beams": 0}, "num_beams must be >= 1"),
        ({"do_sample": True, "temperature": 0.0}, "temperature 0 means greedy"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be > 0"),
    ],
)
def test_impossible_values_raise_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)


def test_all_problems_are_listed_at_once():
    with pytest.raises(ValueError) as info:
        SamplingConfig(top_p=0.0, num_beams=0)
    assert "top_p" in str(info.value) and "num_beams" in str(info.value)


def test_inert_settings_are_listed_not_raised():
    notes = SamplingConfig(do_sample=False, top_k=50, top_p=0.8).inert_settings()
    assert [n.split()[0] for n in notes] == ["top_k", "top_p"]
    assert SamplingConfig(do_sample=True, top_k=50, top_p=0.8).inert_settings() == []


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplingConfig().temperature = 2.0  # type: ignore[misc]


def test_slider_metadata_bounds_hold_the_defaults():
    rows = [
        (f.name, f.metadata, f.default) for f in dataclasses.fields(SamplingConfig) if "min" in f.metadata
    ]
    names = [name for name, _, _ in rows]
    assert names == [
        "temperature",
        "top_k",
        "top_p",
        "num_beams",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "max_new_tokens",
        "seed",
    ]
    for name, meta, default in rows:
        assert meta["min"] <= default <= meta["max"], name
        assert meta["step"] > 0 and meta["help"], name
        # every value a slider can reach at its bounds is valid on its own
        SamplingConfig(**{name: meta["min"]})
        SamplingConfig(**{name: meta["max"]})


def test_effective_settings_drop_what_greedy_ignores():
    greedy = SamplingConfig(temperature=1.7, top_k=40, top_p=0.5, seed=9)
    assert greedy.effective() == SamplingConfig()
    beams = SamplingConfig(num_beams=4, temperature=0.3)
    assert beams.effective() == SamplingConfig(num_beams=4)
    sampled = SamplingConfig(do_sample=True, temperature=0.7, top_k=5, seed=3)
    assert sampled.effective() is sampled

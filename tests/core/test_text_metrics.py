import numpy as np
import pytest
import sacrebleu

from core.metrics import METRICS, Undefined
from core.metrics.text import (
    bridge_similarity,
    constant_baseline_bleu,
    corpus_bleu,
    distinct_n,
    most_common_share,
    self_bleu,
    text_metrics,
    unique_ratio,
)

HYPS = ["a man rides a horse", "two dogs play in snow", "a man rides a horse", "the chef cooks"]
REFS = [
    "a man rides a brown horse",
    "two dogs play in the snow",
    "a woman walks a dog",
    "the chef cooks a meal",
]


def test_hand_case_four_copies():
    same = ["a man rides a horse"] * 4
    assert distinct_n(same, 1) == pytest.approx(0.2)
    assert distinct_n(same, 2) == pytest.approx(0.25)
    assert self_bleu(same) == pytest.approx(100.0)
    assert unique_ratio(same) == 0.25
    assert most_common_share(same) == 1.0


def test_bleu_matches_sacrebleu():
    assert corpus_bleu(HYPS, REFS) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    constant = sacrebleu.corpus_bleu(["a man rides a horse"] * 4, [REFS]).score
    assert constant_baseline_bleu(HYPS, REFS) == pytest.approx(constant)


def test_self_bleu_matches_sacrebleu_sentence_bleu():
    expected = np.mean(
        [
            sacrebleu.sentence_bleu(h, [o for j, o in enumerate(HYPS) if j != i]).score
            for i, h in enumerate(HYPS)
        ]
    )
    assert self_bleu(HYPS) == pytest.approx(expected)


def test_self_bleu_subsample_is_seeded():
    hyps = [f"sentence number {i} here" for i in range(30)]
    assert self_bleu(hyps, max_samples=5, seed=1) == self_bleu(hyps, max_samples=5, seed=1)


def test_counts_and_pooled_distinct():
    assert unique_ratio(HYPS) == 0.75
    assert most_common_share(HYPS) == 0.5
    # 5 + 5 + 5 + 3 = 18 words; distinct: a man rides horse two dogs play in snow the chef cooks = 12
    assert distinct_n(HYPS, 1) == pytest.approx(12 / 18)


@pytest.mark.parametrize("hyps", [[], ["", "  "]])
def test_empty_outputs_are_undefined(hyps):
    refs = ["x"] * len(hyps)
    for value in (
        corpus_bleu(hyps, refs),
        distinct_n(hyps, 1),
        self_bleu(hyps),
        constant_baseline_bleu(hyps, refs),
    ):
        assert isinstance(value, Undefined)


def test_single_output_and_short_outputs():
    assert isinstance(self_bleu(["only one"]), Undefined)
    assert isinstance(distinct_n(["one", "two"], 2), Undefined)
    assert isinstance(unique_ratio([]), Undefined)


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 outputs for 1 references"):
        corpus_bleu(["a", "b"], ["a"])


def test_bridge_similarity():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3, 4))
    flat = x.reshape(5, -1)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    cos = unit @ unit.T
    expected = (cos.sum() - 5) / 20
    assert bridge_similarity(x) == pytest.approx(expected)
    assert bridge_similarity(np.ones((4, 2, 2))) == pytest.approx(1.0)
    assert isinstance(bridge_similarity(np.zeros((3, 2))), Undefined)
    assert isinstance(bridge_similarity(np.ones((1, 2))), Undefined)
    assert isinstance(bridge_similarity(np.full((2, 2), np.nan)), Undefined)


def test_text_metrics_keys_are_registered():
    values = text_metrics(HYPS, REFS, np.ones((4, 2)))
    assert set(values) <= set(METRICS)
    assert all(METRICS[k].family == "text" for k in values)
    assert set(text_metrics(HYPS)) == {
        "unique_output_ratio",
        "most_common_share",
        "distinct_1",
        "distinct_2",
        "self_bleu",
    }

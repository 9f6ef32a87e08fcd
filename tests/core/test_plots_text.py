from core.metrics import Undefined
from core.plots.text import metric_bars


def test_metric_bars_one_trace_per_model_and_gaps_for_undefined():
    figure = metric_bars(
        {
            "A": {"unique_output_ratio": 0.02, "distinct_1": Undefined("every output is empty"), "bleu": 3.0},
            "B": {"unique_output_ratio": 1.0, "distinct_1": 0.15},
        }
    )
    assert [t.name for t in figure.data] == ["A", "B"]
    assert list(figure.data[0].x) == [
        "Unique outputs (higher is better)",
        "Distinct-1 (pooled) (higher is better)",
    ]
    assert list(figure.data[0].y) == [0.02, None]
    assert list(figure.data[1].y) == [1.0, 0.15]
    assert figure.layout.barmode == "group"

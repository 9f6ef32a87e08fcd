"""How a finding was measured (probe rows, flow steps, latent size ...): not quality metrics, but the
denominators and settings that make the metrics readable ("32 distinct endpoints of 1,000"). No family's
own module: every family reports its settings here."""

from __future__ import annotations

from .base import MetricInfo, info_of, register_metrics

FAMILY = "setting"

register_metrics(
    MetricInfo(
        "rows",
        "Probe rows",
        "neither",
        "Probe rows flowed for the diagnosis.",
        FAMILY,
        "rows",
        good="not judged: how many probe rows were measured",
    ),
    MetricInfo(
        "distinct_inputs",
        "Distinct inputs",
        "neither",
        "Connected components of the inputs at the same epsilon as distinct endpoints: the most the "
        "endpoints can keep.",
        FAMILY,
        "count",
        good="not judged: the most distinct endpoints these inputs allow",
    ),
    MetricInfo(
        "steps",
        "Flow steps",
        "neither",
        "Euler steps of the flow.",
        FAMILY,
        "steps",
        good="not judged: a setting of the flow",
    ),
    MetricInfo(
        "alpha",
        "Step size alpha",
        "neither",
        "Euler step size of the flow.",
        FAMILY,
        good="not judged: a setting of the flow",
    ),
    MetricInfo(
        "latent_dim",
        "Latent size",
        "neither",
        "Dimensions of the VAE latent z.",
        FAMILY,
        "units",
        good="not judged: the size of the latent",
    ),
    MetricInfo(
        "probe_rows",
        "Probe rows",
        "neither",
        "Probe inputs encoded for the diagnosis.",
        FAMILY,
        "rows",
        good="not judged: how many probe rows were measured",
    ),
    MetricInfo(
        "free_bits_floor",
        "Free-bits floor",
        "neither",
        "KL per dimension below which the training objective stopped pushing (0: none).",
        FAMILY,
        "nats",
        good="not judged: a setting of the training objective",
    ),
    MetricInfo(
        "inputs",
        "Inputs decoded",
        "neither",
        "Probe embeddings decoded (greedy).",
        FAMILY,
        "inputs",
        good="not judged: how many inputs were decoded",
    ),
    MetricInfo(
        "most_common_output",
        "Most common output",
        "neither",
        "The sentence written most often.",
        FAMILY,
        good="not judged: the sentence itself",
    ),
)


def is_setting(key: str) -> bool:
    """Whether `key` is a measurement setting rather than a metric."""

    info, _ = info_of(key)
    return info is not None and info.family == FAMILY

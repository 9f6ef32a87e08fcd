"""Read flow endpoints as sentences: decode the start and end of a few flowed probe rows with a text generator.

A flow moves a sentence embedding toward target attributes; a text generator that reads the same embedding
space (the demo's MiniLM space, 384-d) turns the endpoint back into a sentence. The start embedding is
decoded too, so the generator's own error is visible next to what the flow changed. Decoding is greedy,
so the same rows always read the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import DEMO_DIR
from ...adapters.base import CheckpointAdapter
from ...config import FlowConfig, SamplingConfig
from ...io.errors import AdapterError, ProbeError
from ...io.paths import demo_checkpoints
from .figures import joint_labels
from .targets import targets_of

# The shipped generator that reads MiniLM embeddings: the fixed (attention bridge) text demo run.
DECODER_RUN = ("text", "fixed")
GREEDY = SamplingConfig(do_sample=False, num_beams=1)
# Rows the page decodes by default: the collapsed demo needs well over its 32 target combinations to show
# that its endpoints repeat. With the first attribute flipped, 8 rows read as 6 vs 8 distinct endpoint sentences
# (collapsed vs fixed demo), 256 rows as 53 vs 238, in about a second each on the CPU.
DECODE_ROWS = 256


def demo_decoder(demo_dir: Path = DEMO_DIR) -> Path | None:
    """Last checkpoint of the shipped fixed text demo run, or None when the demo is not built."""
    run = demo_dir.joinpath(*DECODER_RUN)
    files = [p for p in demo_checkpoints(demo_dir) if p.parent == run]
    return files[-1] if files else None


def decode_rows(total: int, count: int, seed: int = 0) -> np.ndarray:
    """Sorted int64 indices of `count` probe rows (all rows when count >= total), a seeded uniform draw."""
    if count < 1:
        raise ValueError(f"decode at least one row, got {count}")
    if count >= total:
        return np.arange(total, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(total, count, replace=False)).astype(np.int64)


@dataclass(frozen=True)
class DecodedEndpoints:
    """Probe rows int64 [n]; original / target attributes int8 [n, A]; the sentences decoded from each
    row's start embedding and from its flow endpoint (n each)."""

    rows: np.ndarray
    original: np.ndarray
    target: np.ndarray
    start: tuple[str, ...]
    end: tuple[str, ...]

    @property
    def distinct_end(self) -> int:
        return len(set(self.end))

    @property
    def distinct_start(self) -> int:
        return len(set(self.start))

    @property
    def target_groups(self) -> int:
        return len(np.unique(self.target, axis=0))

    def table(self, names: Sequence[str], sentences: Sequence[str]) -> list[dict[str, object]]:
        """One dict per row: probe row, its sentence (`sentences` [n], one per row), original and target
        attributes (joint names like "positive+past", from `names`), the decoded start and endpoint."""
        if len(sentences) != len(self.rows):
            raise ValueError(f"{len(sentences)} sentences for {len(self.rows)} decoded rows")
        original, target = joint_labels(self.original, names), joint_labels(self.target, names)
        return [
            {
                "row": int(row),
                "sentence": sentences[i],
                "original": original[i],
                "target": target[i],
                "decoded start": self.start[i],
                "decoded endpoint": self.end[i],
            }
            for i, row in enumerate(self.rows)
        ]


def check_decoder(flow_adapter: CheckpointAdapter, text_adapter: CheckpointAdapter) -> None:
    """Raise a user-facing error unless `text_adapter` generates from the flow model's embedding space."""
    text_spec = text_adapter.spec()
    if not text_spec.supports_generation:
        raise AdapterError(f"adapter {text_adapter.name!r} ({text_spec.family}) cannot generate text")
    flow_dim, text_dim = flow_adapter.spec().latent_dim, text_spec.latent_dim
    if flow_dim is not None and text_dim is not None and flow_dim != text_dim:
        raise ProbeError(
            f"the flow model works on {flow_dim}-d embeddings but the text model reads {text_dim}-d ones, so "
            "its endpoints cannot be decoded; decoding needs a generator trained on the same embedding space"
        )


def decode_endpoints(
    flow_adapter: CheckpointAdapter,
    text_adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    flow: FlowConfig,
    count: int,
    *,
    config: SamplingConfig = GREEDY,
) -> DecodedEndpoints:
    """Flow `count` rows of embeddings [N, D] (attributes [N, A], drawn with `flow.seed`) toward the
    targets of `flow` and decode each row's start and endpoint with `text_adapter` (greedy unless
    `config` says otherwise)."""
    rows = decode_rows(len(embeddings), count, flow.seed)
    return decode_selected(flow_adapter, text_adapter, embeddings, attributes, flow, rows, config=config)


def decode_selected(
    flow_adapter: CheckpointAdapter,
    text_adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    flow: FlowConfig,
    rows: np.ndarray,
    *,
    config: SamplingConfig = GREEDY,
) -> DecodedEndpoints:
    """`decode_endpoints` for chosen probe rows int64 [n] (such as a selection on the plot).

    Only those rows are flowed: the flow of one row does not depend on the others.
    """
    check_decoder(flow_adapter, text_adapter)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or rows.min() < 0 or rows.max() >= len(embeddings):
        raise ProbeError(f"rows to decode must be 1 or more probe rows in 0..{len(embeddings) - 1}")
    original = np.asarray(attributes, dtype=np.int8)[rows]
    target = targets_of(attributes, flow.targets)[rows]
    traj = flow_adapter.flow(
        np.asarray(embeddings, dtype=np.float32)[rows], target.astype(np.float32), flow.steps, flow.alpha
    )
    if not np.isfinite(traj[-1]).all():
        raise ProbeError("the flow produced NaN or infinite endpoints; there is nothing to decode")
    # Starts and endpoints in one call, so they share the generator's batches.
    sentences = tuple(text_adapter.generate(np.concatenate([traj[0], traj[-1]]), config))
    return DecodedEndpoints(rows, original, target, sentences[: len(rows)], sentences[len(rows) :])

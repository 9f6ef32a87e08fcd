"""Pictures of the language family: the text family's diversity bars plus prompt sensitivity and loops."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from .text import DIVERSITY_KEYS, metric_bars

LANGUAGE_KEYS = (*DIVERSITY_KEYS, "prompt_sensitivity", "looping_share", "changed_share")


def language_bars(results: Mapping[str, Mapping[str, object]]) -> go.Figure:
    """Grouped 0-1 bars per model: distinct continuations, most common share, distinct-n, prompt
    sensitivity, looping share and (LoRA) the share of prompts the adapter changes."""
    return metric_bars(results, LANGUAGE_KEYS)

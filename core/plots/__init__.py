"""Plotly figure builders, one module per family (pure functions returning go.Figure): flow (a package:
figures, the Trajectories view, frames, decoded endpoints), text, codebook, posterior, training, and the
timeline's figures; sample.py holds the stratified sample they share. This file only re-exports.
"""

from __future__ import annotations

from .sample import stratified_sample

__all__ = ["stratified_sample"]

"""Findings: what collapsed, the evidence (metric values) and the known fix.

Each family has a module here (flow, codebook, posterior, text, training) whose rules turn metrics into
findings; base.py holds Finding, Report and `diagnose`, which runs the rules the family registry names for
an adapter; checkpoint.py adds the training findings of a whole checkpoint. This file only re-exports.
"""

from __future__ import annotations

from .base import SEVERITY_ORDER, Finding, Kind, Report, Rule, Severity, diagnose, family_rules

__all__ = [
    "SEVERITY_ORDER",
    "Finding",
    "Kind",
    "Report",
    "Rule",
    "Severity",
    "diagnose",
    "family_rules",
]

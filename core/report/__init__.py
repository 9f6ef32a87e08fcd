"""Before/after comparison and exports: verdict.py (one checkpoint's answer in words, for the verdict strip
and the report), compare.py (comparison rules and the sentences that lead a report), html.py (the offline
HTML document and its JSON) and figures.py (each family's pictures for a report).

This file re-exports verdict.py only: compare and html bring the adapters and torch, which the app's first
paint does without; import them from their modules.
"""

from __future__ import annotations

from .verdict import Verdict, stored_verdict, verdict_of

__all__ = ["Verdict", "stored_verdict", "verdict_of"]

"""Reproducible builders of the demo zoo shipped in assets/demo (`python -m core.demo build`)."""

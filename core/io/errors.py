"""Errors that carry a message meant for the user (UI banner, one CLI line on stderr, exit 2)."""

from __future__ import annotations


class CollapseExplorerError(Exception):
    """Bad input: the message says what is wrong and, where possible, what to do."""


class CheckpointError(CollapseExplorerError):
    """A file or folder that cannot be read as a checkpoint."""


class NeedsTrustError(CheckpointError):
    """The file needs full unpickling, which may run code; it carries what could be listed safely."""

    def __init__(self, message: str, listing: list | None = None) -> None:
        super().__init__(message)
        self.listing = listing or []


class AdapterError(CollapseExplorerError):
    """No adapter fits the checkpoint, or the model cannot be rebuilt from it."""


class ProbeError(CollapseExplorerError):
    """Probe data that is missing, malformed or does not match the model."""

"""Test doubles shared by several test modules."""

from core.adapters.base import CheckpointAdapter


class Unregistered(CheckpointAdapter):
    """Base of in-test fake adapters: never detected, never loaded from a file."""

    @classmethod
    def detect(cls, shapes, config):
        return False

    @classmethod
    def from_loaded(cls, loaded):
        raise NotImplementedError

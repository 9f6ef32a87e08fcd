"""The adapter contract: one class per checkpoint layout, read-only once built.

`from_checkpoint` does the I/O; `__init__` only stores an already-built module. Family methods take
and return numpy arrays (or small frozen dataclasses), never live tensors. Capabilities an adapter
lacks raise NotImplementedError naming the adapter; `spec()` says which exist so callers never try.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import torch

from ..io.checkpoints import load_checkpoint
from ..models.device import resolve_device

if TYPE_CHECKING:
    from ..config import SamplingConfig
    from ..io.checkpoints import LoadedCheckpoint

Family = Literal["flow", "text", "codebook", "posterior", "language"]


@dataclass(frozen=True)
class AdapterSpec:
    """What a loaded model is and can do; the UI reads it to decide which controls to show.

    `parts` names the parts the model has (encoder, codebook, ema usage, posterior heads, decoder,
    semantic heads, ...), so fix texts name only those.
    """

    family: Family
    latent_dim: int | None = None
    attribute_names: tuple[str, ...] = ()
    codebook_size: int | None = None
    codebook_count: int = 0
    supports_flow: bool = False
    supports_generation: bool = False
    supports_decode: bool = False
    supports_posterior: bool = False
    supports_code_indices: bool = False
    supports_code_usage: bool = False
    supports_prompts: bool = False
    description: str = ""
    parts: tuple[str, ...] = ()


class CheckpointAdapter(ABC):
    """Base of every adapter. Subclasses set `name` and `family` and implement detect/build/spec."""

    name: ClassVar[str]
    family: ClassVar[Family]
    # Where the model runs; `to_device` sets it on the instance before the adapter is shared.
    device: str = "cpu"

    @classmethod
    @abstractmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        """True if the key names and shapes (after prefix stripping) match this layout."""

    @classmethod
    @abstractmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        """Rebuild the model from an already loaded checkpoint; raise AdapterError if it cannot."""

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, device: str = "cpu", trust: bool = False
    ) -> CheckpointAdapter:
        """Load `path` safely and rebuild the model on `device` ("cpu", "cuda", "cuda:N" or "auto")."""

        device = resolve_device(device)
        return cls.from_loaded(load_checkpoint(path, trust=trust)).to_device(device)

    def to_device(self, device: str) -> CheckpointAdapter:
        """Move the model's torch modules to a resolved `device` (see core.models.device); returns self.

        Call it once, right after building: adapters are shared read-only afterwards. Family methods move
        their inputs to `self.device` and return numpy arrays on the CPU. An adapter that holds no torch
        module (weight statistics in numpy) has nothing to move and keeps computing on the CPU.
        """
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(device)
        self.device = device
        return self

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """A float or integer numpy array as a tensor on this adapter's device."""
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    @abstractmethod
    def spec(self) -> AdapterSpec:
        """The frozen description of this model."""

    def _missing(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"adapter {self.name!r} does not support {what}")

    def flow(self, z: np.ndarray, y_target: np.ndarray, steps: int, alpha: float) -> np.ndarray:
        """Flow unit embeddings z [N, D] toward targets y [N, A]; returns float32 [T+1, N, D]."""
        raise self._missing("flow")

    def code_indices(self, x: np.ndarray) -> np.ndarray:
        """Code index per input (int64 [N, ...]) from model inputs x."""
        raise self._missing("code_indices")

    def code_usage(self) -> np.ndarray:
        """Weight-only usage counts from EMA cluster sizes, float64 [H, K]."""
        raise self._missing("code_usage")

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar), each float32 [N, Z], for inputs x."""
        raise self._missing("posterior")

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Decode latents z [N, Z] into model outputs [N, ...]."""
        raise self._missing("decode")

    def generate(self, embeddings: np.ndarray, config: SamplingConfig) -> list[str]:
        """One generated sentence per embedding [N, D]."""
        raise self._missing("generate")

    def complete(self, prompts: Sequence[str], config: SamplingConfig) -> list[str]:
        """The continuation of each prompt (language models)."""
        raise self._missing("complete")

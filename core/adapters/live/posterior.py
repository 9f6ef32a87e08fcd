"""The live posterior adapter: the mean / variance heads' outputs (a 2 x Z head split in halves) read as
log-variance, log-std or std as their names say; `decode` when the module has one; reconstructions from
forward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, ProbeError
from ...metrics.posterior import as_logvar, input_column_norms
from ...roles.found import Roles
from ...roles.heads import HeadsRole
from ..base import AdapterSpec
from ..posterior import HeadWeights, read_head_weights

if TYPE_CHECKING:
    pass
from .base import LiveAdapter, as_numpy, evaluating, hooked, placement, tensors_in

# --- posterior heads ------------------------------------------------------------------------------


class LivePosteriorAdapter(LiveAdapter):
    """A live VAE: mu / logvar from hooks on the heads during the module's forward."""

    name: ClassVar[str] = "live_posterior"
    family: ClassVar = "posterior"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LivePosteriorAdapter:
        if not roles.heads:
            raise AdapterError(f"{type(module).__name__} has no posterior heads; {roles.report()}")
        if roles.heads[0].mismatch:
            raise AdapterError(roles.heads[0].mismatch)
        return cls(module, roles, config)

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        super().__init__(module, roles, config)
        self.heads: HeadsRole = roles.heads[0]
        # How each 2 x Z head splits into mean and log-variance, as its first forward showed.
        self._splits: dict[str, str] = {}
        floor = config.get("free_bits")
        self.free_bits = (
            float(floor) if isinstance(floor, int | float) and not isinstance(floor, bool) else None
        )

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="posterior",
            latent_dim=self.heads.latent,
            supports_posterior=True,
            supports_decode=self._can_decode,
            description=f"live {type(self._module).__name__}: {self.heads.describe()}"
            + (
                f"; {self.level_count} levels of heads, the first measured in full, the others' "
                "active units beside it"
                if self.level_count > 1
                else ""
            ),
            parts=self._roles.parts(),
        )

    @property
    def _can_decode(self) -> bool:
        return callable(getattr(self._module, "decode", None)) and self.heads.kind == "linear"

    @property
    def level_count(self) -> int:
        """Levels of posterior heads found (more than one in a hierarchical VAE)."""
        return len(self._roles.heads)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar) float32 [N, Z] from the heads' outputs; conv heads give one row per position."""
        return self.level_posteriors(x, levels=1)[0][1:]

    def level_posteriors(
        self, x: np.ndarray, levels: int | None = None
    ) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(mean head path, mu [N, Z_l], logvar [N, Z_l]) of the first `levels` levels of heads (all when
        None), first level first, from one forward of x per chunk."""
        x = self._inputs(x)
        chosen = self._roles.heads[:levels]
        paths = [p for heads in chosen for p in (heads.mean, heads.variance) if p is not None]
        seen: dict[str, list[torch.Tensor]] = {p: [] for p in paths}

        def record(path: str, args: tuple, output: Any) -> None:
            first = next(tensors_in(output), None)
            if first is not None:
                seen[path].append(first)

        mus: list[list[np.ndarray]] = [[] for _ in chosen]
        raws: list[list[np.ndarray]] = [[] for _ in chosen]
        with evaluating(self._module), hooked(self._module, paths, record):
            for _n, _, output in self._forward(x):
                for path in paths:
                    if not seen[path]:
                        raise ProbeError(f"the forward of probe x never called the head {path}")
                for i, heads in enumerate(chosen):
                    out = seen[heads.mean][-1]
                    if heads.variance is None:
                        split = self._splits.setdefault(heads.mean, observed_split(out, output))
                        mu, raw = (
                            (out[:, 0::2], out[:, 1::2]) if split == "interleaved" else out.chunk(2, dim=1)
                        )
                    else:
                        mu, raw = out, seen[heads.variance][-1]
                    mus[i].append(_rows(mu))
                    raws[i].append(_rows(raw))
                for store in seen.values():
                    store.clear()
        return [
            (
                heads.mean,
                np.concatenate(mus[i]),
                as_logvar(np.concatenate(raws[i]), heads.parameterisation).astype(np.float32),
            )
            for i, heads in enumerate(chosen)
        ]

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The module's own decode(z [N, Z]), flattened to float32 [N, F]."""
        if not self._can_decode:
            raise self._missing("decode (the module has no decode method for flat latents)")
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.heads.latent:
            raise ProbeError(f"latents must be [N, {self.heads.latent}], got shape {z.shape}")
        device, dtype = placement(self._module)
        out = []
        with evaluating(self._module):
            for start in range(0, len(z), self._chunk):
                result = self._module.decode(
                    torch.from_numpy(z[start : start + self._chunk]).to(device, dtype)
                )
                first = next(tensors_in(result))
                out.append(as_numpy(first).reshape(len(first), -1))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def reconstruct(self, x: np.ndarray) -> np.ndarray | None:
        """The forward's reconstructions of x (the first output shaped like x), float32 [N, F], or None."""
        x = self._inputs(x)
        parts = []
        with evaluating(self._module):
            for _n, tensor, output in self._forward(x):
                recon = next(
                    (t for t in tensors_in(output) if t.shape == tensor.shape and t is not tensor), None
                )
                if recon is None:
                    return None
                parts.append(as_numpy(recon).reshape(len(recon), -1))
        return np.concatenate(parts)

    def head_weights(self) -> HeadWeights:
        """The heads' weights as they are now (copies)."""
        return read_head_weights(self._module.state_dict(), self.heads)

    def decoder_columns(self) -> tuple[np.ndarray, float] | None:
        """Column norms of the decoder's input layer (see HeadsOnlyVAEAdapter.decoder_columns)."""
        if self.heads.decoder_input is None:
            return None
        w = self._module.state_dict()[f"{self.heads.decoder_input}.weight"]
        return input_column_norms(as_numpy(w), self.heads.latent)


def observed_split(head: torch.Tensor, output: Any) -> str:
    """How the module split a 2 x Z head's output [N, 2Z, ...] into mean and log-variance: "interleaved"
    when its forward returns the even outputs (`view(-1, Z, 2).unbind(-1)`), else "chunk" (the halves,
    also when the forward returns neither)."""
    even = head[:, 0::2]
    halves = head.chunk(2, dim=1)[0]
    for tensor in tensors_in(output):
        if tensor.shape != even.shape:
            continue
        if torch.equal(tensor, halves):
            return "chunk"
        if torch.equal(tensor, even):
            return "interleaved"
    return "chunk"


def _rows(t: torch.Tensor) -> np.ndarray:
    """[N, Z] as is; [N, Z, ...] (conv heads) as one row per position, [N * P, Z]."""
    a = as_numpy(t)
    return a if a.ndim == 2 else np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])

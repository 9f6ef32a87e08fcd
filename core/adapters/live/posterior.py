"""The live posterior adapter: the mean / variance heads' outputs (a 2 x Z head split in halves) read as
log-variance, log-std or std as their names say; `decode` when the module has one; reconstructions from
forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
        # How the first level's variance head is read, as its first forward's sampled z showed.
        self.reading: Reading | None = None
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
        None), first level first, from one forward of x per chunk. Conv heads give the whole latent tensor
        per input (C x H x W units). A level after the first whose heads the forward never calls, or
        whose outputs are not [N, Z, ...], is left out; the first must be read."""
        x = self._inputs(x)
        chosen = list(self._roles.heads[:levels])
        paths = [p for heads in chosen for p in (heads.mean, heads.variance) if p is not None]
        first = chosen[0]
        z_path = first.decoder_input if first.kind == "linear" else None
        seen: dict[str, list[Any]] = {p: [] for p in [*paths, *([z_path] if z_path else [])]}

        def record(path: str, args: tuple, output: Any) -> None:
            found = next(tensors_in(args if path == z_path and path not in paths else output), None)
            if found is not None:
                seen[path].append(found)

        mus: list[list[np.ndarray]] = [[] for _ in chosen]
        raws: list[list[np.ndarray]] = [[] for _ in chosen]
        candidates: list[np.ndarray] = []  # what may be the sampled z, from the first chunk
        dropped: set[int] = set()
        with evaluating(self._module), hooked(self._module, list(seen), record):
            for n, _, output in self._forward(x):
                for i, heads in enumerate(chosen):
                    if i in dropped:
                        continue
                    pair = self._level_pair(heads, seen, output, n)
                    if isinstance(pair, str):
                        if i == 0:
                            raise ProbeError(pair)
                        dropped.add(i)
                        continue
                    mus[i].append(_rows(pair[0]))
                    raws[i].append(_rows(pair[1]))
                if len(mus[0]) == 1:
                    candidates = _sampled_candidates(
                        seen[z_path] if z_path else [], output, mus[0][0], raws[0][0]
                    )
                for store in seen.values():
                    store.clear()
        raw0 = np.concatenate(raws[0])
        if self.reading is None:
            self.reading = observed_reading(mus[0][0], raws[0][0], candidates, first)
        out = []
        for i, heads in enumerate(chosen):
            if i in dropped:
                continue
            param = self.reading.parameterisation if i == 0 else heads.parameterisation
            raw = raw0 if i == 0 else np.concatenate(raws[i])
            out.append((heads.mean, np.concatenate(mus[i]), as_logvar(raw, param).astype(np.float32)))
        return out

    def _level_pair(
        self, heads: HeadsRole, seen: dict[str, list[Any]], output: Any, n: int
    ) -> tuple[torch.Tensor, torch.Tensor] | str:
        """(mu, raw variance output) of one level from this chunk's hooks, or why they cannot be read."""
        for path in (heads.mean, heads.variance):
            if path is not None and not seen[path]:
                return f"the forward of probe x never called the head {path}"
        out = seen[heads.mean][-1]
        if heads.variance is None:
            if out.ndim < 2 or out.shape[0] != n:
                return f"{heads.mean} gave an output of shape {list(out.shape)}, not [N, 2Z, ...]"
            split = self._splits.setdefault(heads.mean, observed_split(out, output))
            mu, raw = (out[:, 0::2], out[:, 1::2]) if split == "interleaved" else out.chunk(2, dim=1)
        else:
            mu, raw = out, seen[heads.variance][-1]
        for name, t in ((heads.mean, mu), (heads.variance or heads.mean, raw)):
            if t.ndim < 2 or t.shape[0] != n or not t.is_floating_point():
                return f"{name} gave an output of shape {list(t.shape)}, not [N, Z, ...] for {n} inputs"
        if mu.shape != raw.shape:
            return f"{heads.mean} and {heads.variance} gave outputs of shapes {list(mu.shape)} and {list(raw.shape)}"
        return mu, raw

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

    def prior_tables(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The learned mixture prior's (means, log-variances) float64 [K, Z], or None without one."""
        prior = self.heads.prior
        if prior is None:
            return None
        state = self._module.state_dict()
        return tuple(  # type: ignore[return-value]
            state[f"{key}.weight"].detach().to("cpu", torch.float64).numpy()
            for key in (prior.mean, prior.logvar)
        )

    def head_weights(self) -> HeadWeights:
        """The heads' weights as they are now (copies)."""
        return read_head_weights(self._module.state_dict(), self.heads)

    def decoder_columns(self) -> tuple[np.ndarray, float] | None:
        """Column norms of the decoder's input layer (see HeadsOnlyVAEAdapter.decoder_columns)."""
        if self.heads.decoder_input is None:
            return None
        w = self._module.state_dict()[f"{self.heads.decoder_input}.weight"]
        return input_column_norms(as_numpy(w), self.heads.latent)


# How the forward may turn the variance head's output h into the std it samples with.
_STD_OF: dict[str, Callable[[np.ndarray], np.ndarray | None]] = {
    "logvar": lambda h: np.exp(0.5 * h),
    "log_std": np.exp,
    "std": lambda h: h if (h > 0).all() else None,
    "var": lambda h: np.sqrt(h) if (h >= 0).all() else None,
}
_FORMULA = {
    "logvar": "mu + exp(0.5 h) eps",
    "log_std": "mu + exp(h) eps",
    "std": "mu + h eps",
    "var": "mu + sqrt(h) eps",
}
FIT = 0.15  # |ln std(eps)| of the reading that fits: eps ~ N(0, 1) gives about 0 on a few hundred values
CLOSE = 0.1  # another reading this close fits as well: the forward cannot tell them apart


@dataclass(frozen=True)
class Reading:
    """How the variance head's output is read: `parameterisation` (logvar, log_std, std or var), how that
    was decided (`note`), and the other readings that fit the forward as well (`ambiguous`)."""

    parameterisation: str
    note: str
    ambiguous: tuple[str, ...] = ()


def _sampled_candidates(
    at_decoder: list[Any], output: Any, mu: np.ndarray, raw: np.ndarray
) -> list[np.ndarray]:
    """What may be the z the forward sampled, [N, Z] each: the decoder's input, then outputs shaped like
    mu that are neither mu nor the variance head's output (none when the forward uses mu itself)."""
    found = []
    for t in [*at_decoder, *tensors_in(output)]:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.ndim < 2:
            continue
        a = _rows(t)
        if a.shape == mu.shape and not np.array_equal(a, raw) and not np.allclose(a, mu):
            found.append(a)
    return found


def _reading_scores(mu: np.ndarray, raw: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """|ln std(eps)| of eps = (z - mu) / std(h) for each reading of h that gives a positive std."""
    scores: dict[str, float] = {}
    for name, std_of in _STD_OF.items():
        with np.errstate(all="ignore"):
            std = std_of(raw.astype(np.float64))
            if std is None or not np.all(std > 0):
                continue
            spread = float(np.std((z - mu) / std))
        if np.isfinite(spread) and spread > 0:
            scores[name] = abs(float(np.log(spread)))
    return scores


def observed_reading(
    mu: np.ndarray, raw: np.ndarray, candidates: list[np.ndarray], heads: HeadsRole
) -> Reading:
    """Which std the forward sampled z = mu + std(h) eps with, read from eps = (z - mu) / std(h): the
    reading whose eps has unit spread (mu + exp(0.5 h) eps: log-variance; mu + exp(h) eps: log-std;
    mu + h eps: std; mu + sqrt(h) eps: variance), for the first candidate z that one reading fits.
    Without a sampled z, the head's name decides."""
    named = heads.parameterisation
    if not candidates:
        return Reading(named, f"{heads.assumption}; the forward's sampled z was not seen to confirm it")
    scores = next(
        (s for s in (_reading_scores(mu, raw, z) for z in candidates) if s and min(s.values()) <= FIT), None
    )
    if scores is None:
        return Reading(
            named, f"{heads.assumption}; the forward's sampled z fits none of {', '.join(_FORMULA.values())}"
        )
    best = min(scores, key=scores.get)
    tied = tuple(n for n in scores if n != best and scores[n] <= scores[best] + CLOSE)
    pick = named if named in tied else best
    if tied:
        readings = " or ".join(f"z = {_FORMULA[n]}" for n in (pick, *[t for t in (best, *tied) if t != pick]))
        return Reading(
            pick,
            f"the forward's sampled z fits {readings} equally: the variance head's reading is ambiguous",
            tuple(n for n in (best, *tied) if n != pick),
        )
    return Reading(best, f"variance head read as the forward uses it: z = {_FORMULA[best]} (h = its output)")


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
    """[N, Z] as is; [N, Z, ...] (conv heads) as the whole latent tensor per input, [N, Z x H x W]."""
    a = as_numpy(t)
    return a.reshape(len(a), -1)

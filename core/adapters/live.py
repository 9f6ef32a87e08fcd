"""Adapters over a live `nn.Module`: the user's own model class, its parts found by role, run with hooks.

`adapter_from_module(module)` reads the module's state-dict shapes with core.roles (codebooks, posterior
heads, vector fields, wherever they sit), and answers the family methods by running probe `x` through
the module's own forward with forward hooks on the parts found:

- codebook: the quantizer's input vectors (nearest code, Euclidean) or, when its output carries integer
  indices of the right count, those indices; usage from EMA buffers when the module keeps them.
- posterior: the mean / variance heads' outputs (a 2 x Z head split in halves), read as log-variance,
  log-std or std as their names say; `decode` when the module has one; reconstructions from forward.
- flow: the field itself, called as `module(z, y)` when its forward takes two inputs, else the field
  MLP on `[z, y]`.

Every call is read-only and cheap: eval mode and `torch.no_grad` for the call, then each submodule's
training flag, each parameter's `requires_grad` and the torch, numpy and Python RNG states put back
(`evaluating`, which the training guard uses too: a sampling forward does not shift a training run's
random stream), hooks removed. Weights stay where they are (device, dtype); outputs are numpy on the CPU.
The same path serves `--builder module:function` returning an nn.Module and the training-time guard.

Config keys (all optional): `forward` (name of the method to call with x, default the module itself),
`chunk` (rows per forward, default 256), `attribute_names`, `steps`, `alpha`, `free_bits`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import itertools
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import AdapterError, CollapseExplorerError, ProbeError
from ..metrics.posterior import as_logvar, input_column_norms
from ..models.vectorfield import flow as euler_flow
from ..roles import CodebookRole, FieldRole, HeadsRole, Roles, roles_of
from .base import AdapterSpec, CheckpointAdapter
from .codebook import CodebookGroup, codebook_groups
from .posterior import HeadWeights, read_head_weights
from .vectorfield import DEFAULT_ALPHA, DEFAULT_STEPS, MAX_STEPS, attribute_names, check_flow_inputs

if TYPE_CHECKING:
    from ..checkpoints import LoadedCheckpoint
    from ..probe import ProbeData

DEFAULT_CHUNK = 256
_NEAREST_ROWS = 65_536


def adapter_from_module(
    module: nn.Module,
    *,
    family: str | None = None,
    config: Mapping | None = None,
    probe_x: np.ndarray | None = None,
) -> CheckpointAdapter:
    """A read-only adapter over `module` (weights loaded), its parts found by role in its state dict.

    `family` ("codebook", "posterior", "flow" or "text") overrides the family the roles suggest; `config` holds
    optional settings (see the module docstring). When the state dict holds no codebook and a codebook
    (or any part) is wanted, `probe_x` [N, ...] is run through the forward once to find a quantizer that
    keeps no codebook tensor (FSQ, LFQ: core.adapters.implicit). Raises AdapterError naming the roles
    found and lacking when the module has no part of the family. A forward with a time parameter makes a
    generative flow (core.adapters.liveflow) whatever its layers. Probe x of token ids [N, T] with no
    other part found makes a text model (core.adapters.livetext) when the forward scores a vocabulary.
    """
    if not isinstance(module, nn.Module):
        raise AdapterError(f"expected an nn.Module, got {type(module).__name__}")
    config = dict(config or {})
    shapes = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    roles = _live_roles(module, roles_of(shapes), probe_x)
    chosen = family or roles.family
    note = ""
    if family in (None, "flow"):
        from .liveflow import LiveGenerativeFlowAdapter

        generative = LiveGenerativeFlowAdapter.build(module, roles, config)
        if generative is not None:
            return generative
    if chosen in (None, "text") and _token_ids(probe_x):
        from .livetext import LiveTextAdapter

        text = LiveTextAdapter.build(module, roles, config, probe_x)
        if text is not None:
            return text
        note = "; probe x holds token ids but the forward gave no scores over a vocabulary for them"
    if chosen is None or (chosen == "codebook" and not roles.codebooks):
        from .implicit import LiveImplicitCodebookAdapter

        try:
            implicit = LiveImplicitCodebookAdapter.build(module, roles, config, probe_x)
        except ProbeError as exc:
            note = f"; looking for a quantizer without a codebook tensor: {exc}"
        else:
            if implicit is not None:
                return implicit
    builders: dict[str, Callable[[nn.Module, Roles, dict], CheckpointAdapter]] = {
        "codebook": LiveCodebookAdapter.build,
        "posterior": LivePosteriorAdapter.build,
        "flow": LiveFlowAdapter.build,
    }
    if chosen not in builders:
        what = f"family {chosen!r} is not supported for live modules" if chosen else "no known part"
        raise AdapterError(f"{type(module).__name__}: {what}; {roles.report()}{note}")
    try:
        return builders[chosen](module, roles, config)
    except AdapterError as exc:
        raise AdapterError(f"{exc}{note}") from None


def _token_ids(x: np.ndarray | None) -> bool:
    """Probe x that is a batch of token id sequences: integers [N, T]."""
    return x is not None and np.asarray(x).ndim == 2 and np.asarray(x).dtype.kind in "iu"


def _live_roles(module: nn.Module, roles: Roles, probe_x: np.ndarray | None) -> Roles:
    """Roles as the live module shows them: an nn.Embedding fed the probe's integer ids is a token table,
    not a codebook (unless a quantizer's name, usage or EMA buffers place it), and an nn.Embedding is
    never a posterior head (a learned prior's lookup tables are)."""

    def embedding(key: str) -> bool:
        owner = key.rpartition(".")[0] if key.endswith(".weight") else key
        try:
            return isinstance(module.get_submodule(owner), nn.Embedding)
        except AttributeError:
            return False

    from ..roles import matches

    codebooks = tuple(
        role
        for role in roles.codebooks
        if not (
            _token_ids(probe_x)
            and embedding(role.key)
            and not (matches("quantizer path", role.module) or role.usage or role.ema)
        )
    )
    heads = tuple(h for h in roles.heads if not embedding(f"{h.mean}.weight"))
    if codebooks == roles.codebooks and heads == roles.heads:
        return roles
    return dataclasses.replace(roles, codebooks=codebooks, heads=heads)


def builder_adapter(func: Callable[[LoadedCheckpoint], Any], spec: str = "builder") -> Callable:
    """Wrap a user builder: its result may be a CheckpointAdapter or an nn.Module (adapted by role; the
    wrapper's `probe_x` lets a quantizer without a codebook tensor be found by its forward, and probe texts
    stand for x through the module's own tokenizer)."""

    def build(
        loaded: LoadedCheckpoint, probe_x: np.ndarray | None = None, probe_texts: tuple[str, ...] = ()
    ) -> CheckpointAdapter:
        try:
            result = func(loaded)
        except CollapseExplorerError:
            raise
        except Exception as exc:  # the user's own code: any failure becomes one clear line
            raise AdapterError(f"{spec} failed: {type(exc).__name__}: {exc}") from None
        if isinstance(result, CheckpointAdapter):
            return result
        if isinstance(result, nn.Module):
            if probe_x is None and probe_texts:
                from .livetext import encode_texts, module_tokenizer

                tokenizer = module_tokenizer(result)
                probe_x = encode_texts(tokenizer, probe_texts) if tokenizer is not None else None
            return adapter_from_module(result, config=loaded.config, probe_x=probe_x)
        raise AdapterError(
            f"{spec} returned a {type(result).__name__}; it must return an nn.Module with the weights "
            "loaded (or a CheckpointAdapter)"
        )

    return build


BUILDER_ENV = "COLLAPSE_EXPLORER_BUILDER"


def load_builder(spec: str) -> Callable[[LoadedCheckpoint], CheckpointAdapter]:
    """`module:function` -> a builder: the function takes a LoadedCheckpoint and returns an nn.Module with
    the weights loaded (its parts found by role) or a CheckpointAdapter. Imports user code: opt-in only."""
    import importlib
    import sys
    from pathlib import Path

    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise AdapterError(f"--builder wants module:function, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"cannot import builder module {module_name!r}: {exc}") from None
    except Exception as exc:  # the user's module failing at import is their code's error, one line
        raise AdapterError(
            f"builder module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AdapterError(f"builder module {module_name!r} has no function {func_name!r}")
    return builder_adapter(func, f"builder {spec}")


def builder_configured() -> bool:
    """Whether the app is given a builder (`COLLAPSE_EXPLORER_BUILDER`), without importing it."""
    import os

    return bool(os.environ.get(BUILDER_ENV, "").strip())


def builder_from_env(trust: bool) -> Callable[[LoadedCheckpoint], CheckpointAdapter] | None:
    """The app's `--builder`: `COLLAPSE_EXPLORER_BUILDER=module:function`, honoured only when trusted."""
    import os

    return load_builder(os.environ[BUILDER_ENV].strip()) if trust and builder_configured() else None


# --- running the module ------------------------------------------------------------------------------


def _placement(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the block, which leaves training untouched: afterwards every submodule's
    `training` flag, every parameter's `requires_grad` and the torch (CPU and the module's CUDA devices),
    numpy and Python RNG states are as they were, whatever the block changed or raised."""
    flags = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    tensors = itertools.chain(module.parameters(), module.buffers())
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            module.eval()
            yield
    finally:
        for m, training in flags:
            m.training = training
        for param, flag in grads:
            param.requires_grad_(flag)
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextlib.contextmanager
def hooked(module: nn.Module, paths: list[str], record: Callable[[str, tuple, Any], None]) -> Iterator[None]:
    """Forward hooks on the submodules at `paths` calling record(path, inputs, output); removed after."""
    handles = []
    try:
        for path in paths:
            sub = module.get_submodule(path) if path else module

            def hook(_m: nn.Module, args: tuple, output: Any, path: str = path) -> None:
                # Copies: the forward may change an output in place afterwards (`self.var(h).exp_()`).
                record(path, _copied(args), _copied(output))

            handles.append(sub.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


class _LiveAdapter(CheckpointAdapter):
    """Shared running of probe inputs through the live module, chunk by chunk."""

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return False  # a file never selects a live adapter: it needs the module

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        raise AdapterError("live adapters are built from an nn.Module (adapter_from_module), not from a file")

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        self._module = module
        self._roles = roles
        self._config = config
        self._chunk = int(config.get("chunk", DEFAULT_CHUNK))
        self._fields: dict[str, np.ndarray] = {}

    def with_probe(self, probe: ProbeData | None) -> _LiveAdapter:
        """A copy that passes the probe's other named fields (`y`, `c`, `labels`, `t`, ...) to the
        forward by parameter name, row for row with x."""
        fields = probe.fields() if probe is not None else {}
        if not fields:
            return self
        bound = copy.copy(self)
        bound._fields = fields
        return bound

    def _call(self) -> Callable:
        method = self._config.get("forward")
        return getattr(self._module, method) if isinstance(method, str) else self._module

    def _extra_inputs(
        self, call: Callable, n: int, skip: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        """Probe fields named like the forward's parameters after the first (which takes x) and those in
        `skip` (given by the caller), [n, ...] each; ProbeError naming a required parameter the probe
        does not hold."""
        target = call.forward if isinstance(call, nn.Module) else call
        try:
            params = list(inspect.signature(target).parameters.values())[1:]
        except (TypeError, ValueError):
            return {}
        extra: dict[str, np.ndarray] = {}
        for param in params:
            if param.name in skip or param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            value = self._fields.get(param.name)
            if value is not None and len(value) == n:
                extra[param.name] = value
            elif param.default is inspect.Parameter.empty and param.kind != inspect.Parameter.POSITIONAL_ONLY:
                raise ProbeError(
                    f"{type(self._module).__name__}.forward also takes {param.name!r}: add an array named "
                    f"{param.name!r} with one row per probe x row to the probe (fields reach the forward by "
                    "parameter name)"
                )
        return extra

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim < 1 or len(a) == 0:
            raise ProbeError(f"probe x must be [N, ...] with N >= 1, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ProbeError("probe x must be finite numbers")
        return a

    def _forward(self, x: np.ndarray) -> Iterator[tuple[int, torch.Tensor, Any]]:
        """(rows, input tensor, output) per chunk of x through the module's forward (inside evaluating)."""
        device, dtype = _placement(self._module)
        call = self._call()
        extra = self._extra_inputs(call, len(x))
        for start in range(0, len(x), self._chunk):
            part = np.ascontiguousarray(x[start : start + self._chunk])
            tensor = _tensor(part, device, dtype)
            kwargs = {k: _tensor(v[start : start + self._chunk], device, dtype) for k, v in extra.items()}
            try:
                output = call(tensor, **kwargs)
            except CollapseExplorerError:
                raise
            except Exception as exc:  # the user's model rejecting the probe is bad input, not a crash
                raise ProbeError(
                    f"{type(self._module).__name__} cannot run probe x of shape {list(x.shape)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            yield len(part), tensor, output


def _copied(value: Any, depth: int = 0) -> Any:
    """Tensors in `value` (nested tuples, lists, dicts up to depth 3) detached and cloned."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if depth < 3 and isinstance(value, list | tuple):
        items = [_copied(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if depth < 3 and isinstance(value, Mapping):
        return {k: _copied(v, depth + 1) for k, v in value.items()}
    return value


def _tensor(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A probe array on the module's device; floats in the module's dtype, integers as they are."""
    part = np.ascontiguousarray(a)
    return torch.from_numpy(part).to(device=device, dtype=dtype if part.dtype.kind == "f" else None)


def _tensors_in(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 3 and isinstance(value, list | tuple):
        for v in value:
            yield from _tensors_in(v, depth + 1)
    elif depth < 3 and isinstance(value, Mapping):
        for v in value.values():
            yield from _tensors_in(v, depth + 1)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


# --- codebooks ----------------------------------------------------------------------------------------


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


def _ancestors(path: str) -> list[str]:
    """`a.b.c` -> [a.b.c, a.b, a, ""] (deepest first)."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _channels_last(t: torch.Tensor, dim: int) -> torch.Tensor | None:
    """Vectors [M, dim] from a float tensor whose channel axis is 1 (BCHW-style) or last; None if neither."""
    if not t.is_floating_point() or t.ndim < 2:
        return None
    if t.ndim == 2:
        return t if t.shape[1] == dim else None
    first, last = t.shape[1] == dim, t.shape[-1] == dim
    if first and (not last or t.ndim == 4):
        return t.movedim(1, -1).reshape(-1, dim)
    return t.reshape(-1, dim) if last else None


def nearest_codes(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (Euclidean) for vectors [M, D] against codebook [K, D]: int64 [M]."""
    book = codebook.to(vectors.dtype)
    parts = [torch.cdist(chunk, book).argmin(dim=1) for chunk in vectors.split(_NEAREST_ROWS)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64, device=vectors.device)


class LiveCodebookAdapter(_LiveAdapter):
    """Codebooks of a live module; code indices from hooks on the quantizer during the module's forward."""

    name: ClassVar[str] = "live_codebook"
    family: ClassVar = "codebook"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LiveCodebookAdapter:
        if not roles.codebooks:
            raise AdapterError(f"{type(module).__name__} has no codebook; {roles.report()}")
        return cls(module, roles, config)

    def _tensor(self, key: str) -> torch.Tensor:
        try:
            return self._module.get_parameter(key)
        except AttributeError:
            return self._module.get_buffer(key)

    def codebook_groups(self) -> list[CodebookGroup]:
        """Every group of codebooks, read from the live tensors now (copies)."""
        return codebook_groups(self._module.state_dict(), self._roles.codebooks)

    def _primary(self) -> tuple[CodebookRole, ...]:
        first = self._roles.codebooks[0]
        return tuple(r for r in self._roles.codebooks if (r.size, r.dim) == (first.size, first.dim))

    def spec(self) -> AdapterSpec:
        primary = self._primary()
        first = primary[0]
        return AdapterSpec(
            family="codebook",
            latent_dim=first.dim,
            codebook_size=first.size,
            codebook_count=sum(r.heads for r in primary),
            supports_code_indices=True,
            supports_code_usage=all(r.usage for r in primary),
            description=f"live {type(self._module).__name__}: "
            + "; ".join(r.describe() for r in self._roles.codebooks),
            parts=self._roles.parts(),
        )

    def codebook(self) -> np.ndarray:
        """Code vectors of the first group, float32 [H, K, D]."""
        return self.codebook_groups()[0].vectors

    def code_usage(self) -> np.ndarray:
        usage = self.codebook_groups()[0].usage
        if usage is None:
            raise self._missing("code_usage (the module keeps no EMA cluster sizes)")
        return usage

    def code_indices(self, x: np.ndarray) -> np.ndarray:
        """Code per token of the first codebook: x [N, ...] -> int64 [N, T]."""
        return self.code_indices_per_head(x)[0]

    def code_indices_per_head(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Codes per token for every head of the first group: one int64 [N, T_h] per head."""
        x = self._inputs(x)
        primary = self._primary()
        per_role: dict[str, list[list[np.ndarray]]] = {r.key: [] for r in primary}
        with evaluating(self._module):
            for role in primary:
                per_role[role.key] = self._indices(role, x)
        heads: list[np.ndarray] = []
        for role in primary:
            heads.extend(per_role[role.key])
        return tuple(heads)

    def _indices(self, role: CodebookRole, x: np.ndarray) -> list[np.ndarray]:
        """Codes [N, T] per head of one codebook, from the deepest hooked module that saw its vectors."""
        paths = self._quantizer_paths(role)
        logits = [p for p in self._logit_layers(role) if p not in paths]
        calls: dict[str, list[tuple[tuple, Any]]] = {p: [] for p in paths + logits}

        def record(path: str, args: tuple, output: Any) -> None:
            calls[path].append((args, output))

        rows: list[list[np.ndarray]] = [[] for _ in range(role.heads)]
        with hooked(self._module, paths + logits, record):
            for n, _, _ in self._forward(x):
                book = self._tensor(role.key).detach()
                book = book.T if role.layout == "dk" else book
                book = book.reshape(role.heads, role.size, role.dim)
                codes = self._from_calls(role, {p: calls[p] for p in paths}, book)
                if codes is None and role.heads == 1:
                    codes = _from_logits(role, [calls[p] for p in logits])
                if codes is None:
                    raise ProbeError(
                        f"no module around codebook {role.key} received [*, {role.dim}] vectors during the "
                        f"forward of probe x {list(x.shape)}"
                    )
                for h, idx in enumerate(codes):
                    if idx.numel() % n:
                        raise ProbeError(
                            f"codebook {role.key}: {idx.numel()} code assignments for {n} inputs is not a whole "
                            "number per input"
                        )
                    rows[h].append(idx.reshape(n, -1).cpu().numpy().astype(np.int64))
                for store in calls.values():
                    store.clear()
        return [np.concatenate(r) for r in rows]

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self._module.state_dict(keep_vars=True).items()}

    def _quantizer_paths(self, role: CodebookRole) -> list[str]:
        """The codebook's owner and its ancestors, deepest first; the root only when it is the quantizer
        (nothing but the codebook's module holds layers), since otherwise its input is the raw data."""
        from ..roles import layers_of

        owner = _owner(role.key)
        paths = _ancestors(owner)
        others = [
            layer for layer in layers_of(self._shapes()) if not (layer.path + ".").startswith(owner + ".")
        ]
        return paths[:-1] if others and owner else paths

    def _logit_layers(self, role: CodebookRole) -> list[str]:
        """Layers that score the K codes (Gumbel-softmax quantizers): out width K, named like logits or
        proj, or the encoder's last layer; their argmax is the code when no module sees D-dim vectors."""
        from ..roles import ENCODER_ROOTS, layers_of, matches, under_root

        layers = [layer for layer in layers_of(self._shapes()) if layer.kind in ("linear", "conv")]
        encoder = [layer for layer in layers if under_root(layer.path, ENCODER_ROOTS)]
        return [
            layer.path
            for layer in layers
            if layer.out_width == role.size
            and (
                re.search(r"logit|proj|to_code|code_score", layer.name.lower())
                or (encoder and layer is encoder[-1])
                or matches("quantizer path", layer.parent)
            )
        ]

    @staticmethod
    def _from_calls(
        role: CodebookRole, calls: dict[str, list], book: torch.Tensor
    ) -> list[torch.Tensor] | None:
        for path in calls:  # deepest first
            vectors, outputs = [], []
            for args, output in calls[path]:
                found = _head_vectors(args, role, book) if role.heads > 1 else _flat_vectors(args, role.dim)
                if found is None:
                    continue
                vectors.append(found)
                outputs.append(output)
            if not vectors:
                continue
            if role.heads > 1:
                return [torch.cat([nearest_codes(v[h], book[h]) for v in vectors]) for h in range(role.heads)]
            codes = []
            for v, output in zip(vectors, outputs, strict=True):
                given = next(
                    (
                        t.reshape(-1)
                        for t in _tensors_in(output)
                        if not t.is_floating_point()
                        and t.numel() == len(v)
                        and t.dtype != torch.bool
                        and (t.numel() == 0 or (int(t.min()) >= 0 and int(t.max()) < role.size))
                    ),
                    None,
                )
                codes.append(given.to(torch.int64) if given is not None else nearest_codes(v, book[0]))
            return [torch.cat(codes)]
        return None


def _from_logits(role: CodebookRole, calls: list[list[tuple[tuple, Any]]]) -> list[torch.Tensor] | None:
    """Codes as the argmax over K code scores [N, K, ...] or [N, ..., K] output by a logits layer."""
    for layer_calls in calls:
        picked = []
        for _args, output in layer_calls:
            t = next(_tensors_in(output), None)
            if t is None or not t.is_floating_point() or t.ndim < 2:
                continue
            axis = 1 if t.shape[1] == role.size else -1 if t.shape[-1] == role.size else None
            if axis is not None:
                picked.append(t.argmax(dim=axis).reshape(-1))
        if picked:
            return [torch.cat(picked)]
    return None


def _flat_vectors(args: tuple, dim: int) -> torch.Tensor | None:
    for t in _tensors_in(args):
        vectors = _channels_last(t, dim)
        if vectors is not None:
            return vectors
    return None


def _head_vectors(args: tuple, role: CodebookRole, book: torch.Tensor) -> torch.Tensor | None:
    """Per-head vectors [H, M, D] from an input with a leading head axis."""
    for t in _tensors_in(args):
        if t.is_floating_point() and t.ndim >= 3 and t.shape[0] == role.heads and t.shape[-1] == role.dim:
            return t.reshape(role.heads, -1, role.dim)
    return None


# --- posterior heads ------------------------------------------------------------------------------


class LivePosteriorAdapter(_LiveAdapter):
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
            found = next(_tensors_in(args if path == z_path and path not in paths else output), None)
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
        device, dtype = _placement(self._module)
        out = []
        with evaluating(self._module):
            for start in range(0, len(z), self._chunk):
                result = self._module.decode(
                    torch.from_numpy(z[start : start + self._chunk]).to(device, dtype)
                )
                first = next(_tensors_in(result))
                out.append(_numpy(first).reshape(len(first), -1))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def reconstruct(self, x: np.ndarray) -> np.ndarray | None:
        """The forward's reconstructions of x (the first output shaped like x), float32 [N, F], or None."""
        x = self._inputs(x)
        parts = []
        with evaluating(self._module):
            for _n, tensor, output in self._forward(x):
                recon = next(
                    (t for t in _tensors_in(output) if t.shape == tensor.shape and t is not tensor), None
                )
                if recon is None:
                    return None
                parts.append(_numpy(recon).reshape(len(recon), -1))
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
        return input_column_norms(_numpy(w), self.heads.latent)


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
    for t in [*at_decoder, *_tensors_in(output)]:
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
    for tensor in _tensors_in(output):
        if tensor.shape != even.shape:
            continue
        if torch.equal(tensor, halves):
            return "chunk"
        if torch.equal(tensor, even):
            return "interleaved"
    return "chunk"


def _rows(t: torch.Tensor) -> np.ndarray:
    """[N, Z] as is; [N, Z, ...] (conv heads) as the whole latent tensor per input, [N, Z x H x W]."""
    a = _numpy(t)
    return a.reshape(len(a), -1)


# --- vector fields ------------------------------------------------------------------------------------


def _positional_inputs(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds for p in params)


class LiveFlowAdapter(_LiveAdapter):
    """A live vector field: flows by calling the module (or its field MLP) in Euler steps."""

    name: ClassVar[str] = "live_flow"
    family: ClassVar = "flow"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LiveFlowAdapter:
        if not roles.fields:
            raise AdapterError(f"{type(module).__name__} has no vector field; {roles.report()}")
        return cls(module, roles, config)

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        super().__init__(module, roles, config)
        self.field: FieldRole = roles.fields[0]
        self._names = attribute_names(config, self._attributes)
        steps, alpha = config.get("steps", DEFAULT_STEPS), config.get("alpha", DEFAULT_ALPHA)
        ok = isinstance(steps, int) and 0 < steps <= MAX_STEPS and isinstance(alpha, int | float)
        self._defaults = (int(steps), float(alpha)) if ok else (DEFAULT_STEPS, DEFAULT_ALPHA)

    @property
    def _attributes(self) -> int:
        if self.field.attributes is None:
            return self.field.condition
        first = self._module.state_dict()[f"{self.field.attributes}.weight"]
        return int(first.shape[1])

    def field_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """v(z [N, D], y [N, A]) -> [N, D]: the module itself when its forward takes (z, y), else the field MLP
        on [z, y]. Not wrapped in no_grad or eval mode, so torch.func can differentiate it; do not train it."""
        if _positional_inputs(self._module.forward) >= 2:
            return self._module
        mlp = self._module.get_submodule(self.field.prefix) if self.field.prefix else self._module
        return lambda z, y: mlp(torch.cat([z, y.to(z.dtype)], dim=-1))

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="flow",
            latent_dim=self.field.dim,
            attribute_names=self._names,
            supports_flow=True,
            description=f"live {type(self._module).__name__}: {self.field.describe()}",
            parts=self._roles.parts(),
        )

    def flow_defaults(self) -> tuple[int, float]:
        """(steps, alpha) from the config, else (10, 0.1)."""
        return self._defaults

    def flow(self, z: np.ndarray, y_target: np.ndarray, steps: int, alpha: float) -> np.ndarray:
        """Euler flow of z [N, D] toward y_target [N, A] through the live field: float32 [T+1, N, D]."""
        if not 0 <= int(steps) <= MAX_STEPS or int(steps) != steps:
            raise ProbeError(f"steps must be an integer in 0..{MAX_STEPS}, got {steps}")
        if not np.isfinite(alpha):
            raise ProbeError(f"alpha must be finite, got {alpha}")
        zt, yt = check_flow_inputs(z, y_target, self.field.dim, self._names)
        device, dtype = _placement(self._module)
        field = self.field_fn()
        with evaluating(self._module):
            path = euler_flow(field, zt.to(device, dtype), yt.to(device, dtype), int(steps), float(alpha))
        return path.to("cpu", torch.float32).numpy()

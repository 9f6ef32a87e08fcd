"""MLP chains rebuilt from weight shapes: Linear and norm layers at their state-dict paths, activations between.

What shapes cannot say (the activation) comes from the caller (a config value, else an assumption the
caller names). Used by the VAE adapters and the generic vector-field adapter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from ..io.errors import AdapterError

Group = tuple[str, dict[str, tuple[int, ...]]]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "leakyrelu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "selu": nn.SELU,
}


def make_activation(name: str | None) -> nn.Module:
    """Activation module by (case-insensitive) name; None or "none"/"identity"/"linear" is the identity."""
    key = (name or "none").lower().replace("-", "_")
    if key in ("none", "identity", "linear"):
        return nn.Identity()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[key]()


@dataclass(frozen=True)
class Step:
    """One step of a forward chain: a layer stored at `path` (None for parameter-free steps)."""

    path: str | None
    module: nn.Module


def layer_groups(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> list[Group]:
    """Layers under `prefix` in forward order: (layer path, {param name: shape}).

    nn.Sequential indices sort numerically; named submodules keep the file's order.
    """
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        if key.startswith(prefix + "."):
            path, _, param = key.rpartition(".")
            groups.setdefault(path, {})[param] = tuple(shape)
    parts = {p: p[len(prefix) + 1 :].split(".") if p != prefix else [] for p in groups}
    names = list(groups)
    if all(s.isdigit() for ps in parts.values() for s in ps):
        names.sort(key=lambda n: [int(s) for s in parts[n]])
    return [(n, groups[n]) for n in names]


def groups_at(shapes: Mapping[str, tuple[int, ...]], paths: Sequence[str]) -> list[Group]:
    """(path, params) for each of `paths`, in the order given."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {p: {} for p in paths}
    for key, shape in shapes.items():
        path, _, param = key.rpartition(".")
        if path in groups:
            groups[path][param] = tuple(shape)
    return [(p, groups[p]) for p in paths]


def is_mlp_layer(params: Mapping[str, tuple[int, ...]]) -> bool:
    """True for a Linear (2-D weight) or a norm (1-D weight) layer."""
    return len(params.get("weight", ())) in (1, 2)


def build_layer(path: str, params: Mapping[str, tuple[int, ...]]) -> nn.Module:
    """nn.Linear, nn.BatchNorm1d or nn.LayerNorm with the shapes of `params`; AdapterError otherwise."""
    weight = params.get("weight")
    if weight is None:
        raise AdapterError(f"layer {path} has no weight ({', '.join(params)}); cannot rebuild it from shapes")
    if len(weight) == 2:
        return nn.Linear(weight[1], weight[0], bias="bias" in params)
    if len(weight) == 1 and "running_mean" in params:
        return nn.BatchNorm1d(weight[0])
    if len(weight) == 1:
        return nn.LayerNorm(weight[0], elementwise_affine=True, bias="bias" in params)
    raise AdapterError(
        f"layer {path} has a weight of shape {tuple(weight)}: only MLP (Linear) models can be rebuilt from "
        "shapes; use --builder module:function for convolutional models"
    )


def chain(groups: Sequence[Group], activation: str, *, act_after_last: bool) -> list[Step]:
    """Steps for `groups`; the activation after each Linear (and its norm) but the last."""
    layers = [(path, build_layer(path, params)) for path, params in groups]
    linear_at = [i for i, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)]
    steps: list[Step] = []
    for i, (path, module) in enumerate(layers):
        steps.append(Step(path, module))
        next_is_norm = i + 1 < len(layers) and not isinstance(layers[i + 1][1], nn.Linear)
        closes_block = not next_is_norm and any(j <= i for j in linear_at)
        is_last_block = not any(j > i for j in linear_at)
        if closes_block and (act_after_last or not is_last_block):
            steps.append(Step(None, make_activation(activation)))
    return steps


def linears(steps: Sequence[Step]) -> Iterator[tuple[str, nn.Linear]]:
    """(path, layer) of every Linear step."""
    for step in steps:
        if isinstance(step.module, nn.Linear):
            yield step.path or "?", step.module


def attach(root: nn.Module, path: str, module: nn.Module) -> None:
    """Register `module` at dotted `path` under `root`, creating empty parent modules on the way."""
    parent: nn.Module = root
    *parents, leaf = path.split(".")
    for name in parents:
        child = parent._modules.get(name)
        if child is None:
            child = nn.Module()
            parent.add_module(name, child)
        parent = child
    parent.add_module(leaf, module)

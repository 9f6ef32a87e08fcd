"""Vector fields found by role: an MLP chain whose first Linear takes D + C inputs and whose last gives D."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .layers import Layer, Shapes, layers_of

# --- vector fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRole:
    """An MLP vector field v(z, c): `prefix` holds the chain, first Linear takes D + C, last gives D.

    C is the conditioning width next to the D-dim state (A attributes, a time input, or an attribute
    encoder's H outputs when `attributes` names that encoder).
    """

    prefix: str
    layers: tuple[str, ...]
    dim: int
    condition: int
    attributes: str | None = None

    def describe(self) -> str:
        via = f" via {self.attributes}" if self.attributes else ""
        return (
            f"vector field {self.prefix or '(top level)'}: {len(self.layers)} Linear layers, state D = {self.dim}, "
            f"{self.condition} conditioning inputs{via}"
        )


def _chains(layers: list[Layer]) -> dict[str, list[Layer]]:
    chains: dict[str, list[Layer]] = {}
    for layer in layers:
        chains.setdefault(layer.parent, []).append(layer)
    return chains


def find_fields(shapes: Shapes, layers: list[Layer] | None = None) -> list[FieldRole]:
    """MLP chains whose first Linear takes D + C and last gives D, covering every matrix in the file."""
    layers = layers_of(shapes) if layers is None else layers
    matrices = [layer for layer in layers if layer.kind != "norm"]
    if not matrices or any(layer.kind != "linear" for layer in matrices):
        return []
    found = []
    for prefix, chain in _chains(layers).items():
        linears = [layer for layer in chain if layer.kind == "linear"]
        if len(linears) < 2 or any(a.out_width not in b.in_widths() for a, b in itertools.pairwise(linears)):
            continue
        d, first_in = linears[-1].out_width, linears[0].weight[1]
        c = first_in - d
        if not 0 < c < d:
            continue
        others = [layer for layer in matrices if layer not in linears]
        attr = [layer for layer in others if layer.out_width == c]
        if len(others) > len(attr) or (others and len(attr) != len(others)):
            continue
        # Attributes or a time input are few next to the state; a truncated MLP leaves a large remainder.
        if not attr and 2 * c > d:
            continue
        found.append(
            FieldRole(prefix, tuple(layer.path for layer in linears), d, c, attr[0].parent if attr else None)
        )
    return found

"""Every role in one state dict (`find_roles`, memoised as `roles_of`), the family they make up, and the
report of the roles found and lacking (`Roles.report()`).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field

from .codebook import CodebookRole, find_codebooks, token_table
from .field import FieldRole, _chains, find_fields
from .heads import HeadsRole, find_heads
from .layers import DECODER_ROOTS, ENCODER_ROOTS, Family, Layer, Shapes, layers_of, matches, under_root

# --- the whole file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Every role found in one state dict, and what each family would still need."""

    codebooks: tuple[CodebookRole, ...] = ()
    heads: tuple[HeadsRole, ...] = ()
    fields: tuple[FieldRole, ...] = ()
    text_bridge: bool = False
    semantic_heads: tuple[str, ...] = ()
    encoder: bool = False
    decoder: bool = False
    tensors: int = 0
    examples: tuple[str, ...] = field(default_factory=tuple)
    hints: tuple[str, ...] = ()

    @property
    def family(self) -> Family | None:
        """The family these roles make up (text, then flow, codebook, posterior), or None."""
        if self.text_bridge:
            return "text"
        if self.fields:
            return "flow"
        if self.codebooks:
            return "codebook"
        if self.heads:
            return "posterior"
        return None

    def parts(self) -> tuple[str, ...]:
        """Plain names of the parts present (fix texts name only these)."""
        parts: list[str] = ["encoder"] if self.encoder else []
        if self.codebooks:
            parts.append("codebook")
            if any(c.usage for c in self.codebooks):
                parts.append("ema usage")
        if self.heads:
            parts.append("posterior heads")
        if self.decoder or any(h.decoder_input for h in self.heads):
            parts.append("decoder")
        if self.fields:
            parts.append("vector field")
        if self.semantic_heads:
            parts.append("semantic heads")
        return tuple(parts)

    def found(self) -> list[str]:
        rows = [c.describe() for c in self.codebooks] + [h.describe() for h in self.heads]
        rows += [f.describe() for f in self.fields]
        if self.text_bridge:
            rows.append("text bridge (expander + t5.*)")
        if self.semantic_heads:
            rows.append(f"semantic heads {', '.join(self.semantic_heads[:4])}")
        return rows

    def lacking(self) -> list[str]:
        """What is missing: for the family found, the parts that would make more evidence possible."""
        family = self.family
        if family is None:
            return [
                "a codebook ([K, D], [D, K] or [H, K, D] named like embedding / embed / codebook / dictionary, "
                "in a quantizer-like module or beside EMA buffers; FSQ / LFQ-style quantizers keep no codebook "
                "tensor: give --builder and probe x so their code indices are read from the forward)",
                "posterior heads (sibling mean and log-variance / sigma layers, linear or conv, or one layer "
                "with 2 x Z outputs feeding a decoder that takes Z)",
                "a vector field (an MLP whose first layer takes D + A inputs and whose last gives D)",
                "a text bridge (expander + t5.*)",
            ]
        if family == "codebook" and not any(c.usage for c in self.codebooks):
            return ["usage buffers (EMA cluster sizes): usage needs probe codes or x through --builder"]
        if family == "posterior" and not any(h.decoder_input for h in self.heads):
            return ["a layer that takes z (decoder input): decoder columns cannot be checked"]
        return []

    def report(self) -> str:
        """One paragraph: what to give for a model of no weight-readable family (hints), roles found and
        roles lacking."""
        found = "; ".join(self.found()) or "nothing of a known role"
        lead = "; ".join(self.hints) + "; " if self.hints else ""
        text = f"{lead}roles found: {found}"
        missing = self.lacking()
        if missing:
            text += f"; lacking: {'; '.join(missing)}"
        if self.family is None and self.examples:
            text += f" ({self.tensors} tensors, e.g. {', '.join(self.examples)})"
        return text

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "found": self.found(),
            "lacking": self.lacking(),
            "hints": list(self.hints),
        }


def _is_bridge(shapes: Shapes) -> bool:
    expander = shapes.get("expander")
    return expander is not None and len(expander) == 2 and any(k.startswith("t5.") for k in shapes)


TIME_INPUT = re.compile(r"time_?(?:emb|embed|embedding|mlp|proj)|t_?emb|temb|timestep|sinusoidal|fourier")
TEXT_HINT = (
    "it looks like a text model ({why}): give --builder module:function returning your model and probe "
    "token ids `x` [N, T] for greedy decoding and the `mode` finding"
)
FLOW_HINT = (
    "it looks like a velocity field with a time input ({why}): give --builder module:function returning "
    "your model v(x, t[, c]) and probe noise `x` (with conditions such as `c` / `y`, and real samples `x1` "
    "for spread and mode coverage) to integrate it"
)


def _hints(shapes: Shapes, layers: list[Layer]) -> tuple[str, ...]:
    """What to give for a model of no weight-readable family: a text model's token tables, a velocity
    field's time input (a time embedding, or an MLP taking a few inputs more than it gives)."""
    hints = []
    for key, shape in shapes.items():
        if len(shape) == 2 and matches("codebook", key):
            why = token_table(key, tuple(shape), shapes)
            if why is not None:
                hints.append(TEXT_HINT.format(why=f"token embedding {key}: {why}"))
                break
    if hints:  # a text model's tables and projections are no velocity field
        return tuple(hints)
    timed = next((layer.path for layer in layers if TIME_INPUT.search(layer.path.lower())), None)
    matrices = [layer for layer in layers if layer.kind != "norm"]
    if timed is None:
        for prefix, chain in _chains(layers).items():
            linears = [layer for layer in chain if layer.kind == "linear"]
            # the whole model is this one chain (an encoder beside a decoder is no velocity field)
            whole = len(linears) == len(matrices)
            chained = all(a.out_width in b.in_widths() for a, b in itertools.pairwise(linears))
            if (
                whole
                and len(linears) >= 2
                and chained
                and 0 < linears[0].weight[1] - linears[-1].out_width <= 32
            ):
                timed = (
                    f"{prefix or 'the top-level MLP'} takes {linears[0].weight[1]} inputs and gives "
                    f"{linears[-1].out_width}: the state plus time and conditions?"
                )
                break
    else:
        timed = f"time embedding {timed}"
    if timed is not None:
        hints.append(FLOW_HINT.format(why=timed))
    return tuple(hints)


def find_roles(shapes: Shapes) -> Roles:
    """All roles in a (prefix-stripped or not) state dict's key -> shape mapping."""
    shapes = {k: tuple(v) for k, v in shapes.items()}
    layers = layers_of(shapes)
    bridge = _is_bridge(shapes)
    codebooks = () if bridge else tuple(find_codebooks(shapes, layers))
    fields = () if bridge or codebooks else tuple(find_fields(shapes, layers))
    heads = () if bridge or codebooks or fields else tuple(find_heads(shapes, layers))
    semantic = tuple(
        dict.fromkeys(
            layer.path for layer in layers if matches("semantic head", layer.path) and layer.kind == "linear"
        )
    )
    return Roles(
        codebooks,
        heads,
        fields,
        bridge,
        semantic,
        encoder=any(under_root(layer.path, ENCODER_ROOTS) for layer in layers),
        decoder=any(under_root(layer.path, DECODER_ROOTS) for layer in layers),
        tensors=len(shapes),
        examples=tuple(list(shapes)[:4]),
        hints=() if bridge or codebooks or fields or heads else _hints(shapes, layers),
    )


@functools.lru_cache(maxsize=64)
def _roles_cached(items: tuple[tuple[str, tuple[int, ...]], ...]) -> Roles:
    return find_roles(dict(items))


def roles_of(shapes: Shapes) -> Roles:
    """`find_roles`, memoised on the key -> shape items (every adapter's detect asks the same question)."""
    return _roles_cached(tuple((k, tuple(v)) for k, v in shapes.items()))

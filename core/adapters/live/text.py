"""A live text model: the user's seq2seq or decoder-only nn.Module decoded greedily on probe token ids.

Any module whose forward turns token ids into scores over a vocabulary serves: `forward(src, tgt)`
returning logits [N, T, V] (a seq2seq model: the target starts from a begin token and grows one greedy
token at a time), or `forward(ids)` returning logits [N, T, V] (a decoder-only model: the probe ids are
continued). Outputs are the generated token ids (decoded with the module's `tokenizer` when it has one
with `encode` and `decode`; probe `texts` are then encoded with it when the probe has no x); the `mode`
rules judge them (core.diagnosis.text).

Config keys (all optional, the module's own config): begin token `bos_id` / `sos_idx` / `bos_token_id`
/ `decoder_start_token_id`, end token `eos_id` / `eos_idx` / `eos_token_id`, `max_len` /
`max_sequence_length` (steps, at most MAX_STEPS). Without them the begin token is the probe's first
column when every row starts with the same id, the end token its last column when every row ends with
the same id; the spec says which were assumed.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, CollapseExplorerError, ProbeError
from ...roles.found import Roles
from ..base import AdapterSpec
from .base import LiveAdapter, evaluating, placement, tensors_in, token_ids

MAX_STEPS = 64
BOS_KEYS = ("bos_id", "sos_idx", "sos_id", "bos_idx", "bos_token_id", "decoder_start_token_id", "start_token")
EOS_KEYS = ("eos_id", "eos_idx", "eos_token_id", "end_token")
LENGTH_KEYS = ("max_len", "max_length", "max_sequence_length", "max_new_tokens")


def _config_int(config: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _required_inputs(module: nn.Module, method: str | None) -> int:
    """Parameters of the forward without a default (positional or keyword), self excluded."""
    call = getattr(module, method) if method else module.forward
    try:
        params = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in params)


MAX_TEXT_TOKENS = 512


def encode_texts(tokenizer: object, texts: tuple[str, ...]) -> np.ndarray:
    """Token ids int64 [N, T] of probe texts through the module's tokenizer (`encode(text) -> ids`),
    right-padded with its `pad_token_id` (else 0), each cut at MAX_TEXT_TOKENS."""
    encode = getattr(tokenizer, "encode", None)
    if not callable(encode):
        raise ProbeError(
            "the module's tokenizer has no encode method: give probe token ids x instead of texts"
        )
    try:
        rows = [list(encode(text))[:MAX_TEXT_TOKENS] for text in texts]
    except Exception as exc:  # the user's tokenizer failing on a probe text is bad input
        raise ProbeError(
            f"the module's tokenizer cannot encode the probe texts: {type(exc).__name__}: {exc}"
        ) from None
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if isinstance(pad, int) and not isinstance(pad, bool) else 0
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise ProbeError("the probe texts encode to no tokens")
    return np.array([r + [pad] * (width - len(r)) for r in rows], dtype=np.int64)


def module_tokenizer(module: nn.Module) -> object | None:
    """The module's `tokenizer` attribute when it can encode and decode, else None."""
    tok = getattr(module, "tokenizer", None)
    return tok if callable(getattr(tok, "encode", None)) and callable(getattr(tok, "decode", None)) else None


class LiveTextAdapter(LiveAdapter):
    """Greedy decoding of probe token ids [N, T] through a live seq2seq or decoder-only module."""

    name: ClassVar[str] = "live_text"
    family: ClassVar = "text"

    @classmethod
    def build(
        cls, module: nn.Module, roles: Roles, config: dict, probe_x: np.ndarray | None
    ) -> LiveTextAdapter | None:
        """The adapter when one greedy step on two probe rows gives scores over a vocabulary, else None."""
        if probe_x is None or not token_ids(probe_x):
            return None
        adapter = cls(module, roles, config, np.asarray(probe_x))
        try:
            with evaluating(module):
                adapter._scores(*adapter._start(np.asarray(probe_x)[:2]))
        except ProbeError:
            return None
        return adapter

    def __init__(self, module: nn.Module, roles: Roles, config: dict, probe_x: np.ndarray) -> None:
        super().__init__(module, roles, config)
        method = config.get("forward") if isinstance(config.get("forward"), str) else None
        self.seq2seq = _required_inputs(module, method) >= 2
        self.bos, bos_note = self._token(config, BOS_KEYS, probe_x[:, 0], "begin")
        self.eos, eos_note = self._token(config, EOS_KEYS, probe_x[:, -1], "end")
        steps = _config_int(config, LENGTH_KEYS)
        default = probe_x.shape[1] + 2 if self.seq2seq else 16
        self.steps = min(steps if steps else default, MAX_STEPS)
        self.tokenizer = module_tokenizer(module)
        self.tokenizer_note = (
            "the module has no tokenizer with encode and decode methods"
            if self.tokenizer is None
            else "module.tokenizer"
        )
        kind = "seq2seq forward(src, tgt)" if self.seq2seq else "decoder-only forward(ids)"
        self.notes = f"{kind}, greedy, at most {self.steps} steps; {bos_note}; {eos_note}"

    @staticmethod
    def _token(config: dict, keys: tuple[str, ...], column: np.ndarray, what: str) -> tuple[int | None, str]:
        given = _config_int(config, keys)
        if given is not None:
            return given, f"{what} token {given} from the config"
        if len(column) and np.all(column == column[0]):
            return int(column[0]), f"{what} token {int(column[0])} assumed: every probe row has it there"
        return None, f"no {what} token known" + (" (0 used)" if what == "begin" else "")

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="text",
            supports_generation=True,
            description=f"live {type(self._module).__name__}: {self.notes}",
            parts=("decoder",),
        )

    def _start(self, src: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        device, _ = placement(self._module)
        source = torch.from_numpy(np.ascontiguousarray(src)).to(device=device, dtype=torch.int64)
        if self.seq2seq:
            begin = torch.full((len(src), 1), self.bos or 0, dtype=torch.int64, device=device)
            return source, begin
        return source, source

    def _scores(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scores [N, V] for the next token after `target` (given `source` for a seq2seq model)."""
        call = self._call()
        try:
            output = call(source, target) if self.seq2seq else call(target)
        except CollapseExplorerError:
            raise
        except Exception as exc:  # the user's model refusing the ids is bad input, not a crash
            raise ProbeError(
                f"{type(self._module).__name__} cannot run token ids {list(target.shape)}: {type(exc).__name__}: {exc}"
            ) from None
        n, t = target.shape
        for scores in tensors_in(output):
            if not scores.is_floating_point():
                continue
            if scores.ndim == 3 and scores.shape[:2] == (n, t):
                return scores[:, -1]
            if scores.ndim == 2 and scores.shape[0] == n and scores.shape[1] > 1:
                return scores
        raise ProbeError(
            f"{type(self._module).__name__}'s forward gave no scores over a vocabulary ([N, T, V]) for token ids "
            f"{list(target.shape)}"
        )

    def greedy_outputs(self, x: np.ndarray) -> list[str]:
        """Greedy outputs of token ids x [N, T]: the generated ids joined by spaces (or the tokenizer's
        text), one string per row."""
        ids = np.asarray(x)
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or len(ids) == 0:
            raise ProbeError(
                f"probe x must be token ids [N, T] (integers), got {ids.dtype} {list(ids.shape)}"
            )
        outputs: list[str] = []
        with evaluating(self._module):
            for start in range(0, len(ids), self._chunk):
                outputs.extend(self._decode_chunk(ids[start : start + self._chunk]))
        return outputs

    def _decode_chunk(self, src: np.ndarray) -> list[str]:
        source, target = self._start(src)
        prefix = target.shape[1]
        done = torch.zeros(len(src), dtype=torch.bool, device=target.device)
        for _ in range(self.steps):
            token = self._scores(source, target).argmax(dim=-1)
            target = torch.cat([target, token[:, None]], dim=1)
            if self.eos is not None:
                done |= token == self.eos
                if bool(done.all()):
                    break
        return [self._text(row) for row in target[:, prefix:].cpu().numpy()]

    def _text(self, row: np.ndarray) -> str:
        tokens = row.tolist()
        if self.eos is not None and self.eos in tokens:
            tokens = tokens[: tokens.index(self.eos)]
        if self.tokenizer is not None:
            return str(self.tokenizer.decode(tokens))
        return " ".join(map(str, tokens))

    def generate(self, embeddings: np.ndarray, config: Any) -> list[str]:
        raise AdapterError(f"{self.name} decodes probe token ids x (greedy_outputs), not embeddings")

"""The targets a flow moves the probe toward: the diagnosis's (row i flips attribute i mod A), or one
control per attribute ("keep", "flip", "set 0", "set 1") chosen on the Trajectories page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ...diagnosis.flow import probe_targets

Control = Literal["keep", "flip", "set 0", "set 1"]
CONTROLS: tuple[Control, ...] = ("keep", "flip", "set 0", "set 1")


def target_attributes(original: np.ndarray, controls: Sequence[Control]) -> np.ndarray:
    """Target attributes int8 [N, A] from original 0/1 attributes [N, A] and one control per column."""
    original = np.asarray(original, dtype=np.int8)
    if original.ndim != 2 or original.shape[1] != len(controls):
        raise ValueError(f"{len(controls)} controls for attributes of shape {original.shape}")
    target = original.copy()
    for column, control in enumerate(controls):
        if control == "flip":
            target[:, column] = 1 - original[:, column]
        elif control in ("set 0", "set 1"):
            target[:, column] = int(control[-1])
        elif control != "keep":
            raise ValueError(f"unknown control {control!r}; use one of {CONTROLS}")
    return target


def targets_of(original: np.ndarray, controls: Sequence[Control]) -> np.ndarray:
    """Target attributes int8 [N, A] of original 0/1 attributes [N, A] (every probe row, in order): one
    control per column (`target_attributes`), or with no controls the diagnosis's targets, row i flipping
    attribute i mod A (`probe_targets`): the page opens on them, so its first numbers are the verdict's."""
    return target_attributes(original, controls) if controls else probe_targets(original)


def default_controls(n_attributes: int) -> tuple[Control, ...]:
    """The per-attribute controls the Trajectories page offers first when targets are chosen by hand: flip
    the first attribute, keep the others (the page itself opens on the diagnosis's targets, `targets_of`)."""
    return tuple("flip" if column == 0 else "keep" for column in range(n_attributes))

"""Training checkpoints: written whole or not at all, so an interruption never leaves a
checkpoint that loads half a run.

A checkpoint is one torch file ``checkpoints/step-00001200.pt`` holding the model, optimizer
and scheduler states, the RNG states, the step (the data position follows from it) and the
settings digest; it is written to a ``.partial`` file and renamed. Only the newest is kept.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "checkpoints"
_PATTERN = "step-*.pt"


def rng_state() -> dict[str, Any]:
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and remove older ones."""
    import torch

    checkpoints = folder / FOLDER
    checkpoints.mkdir(parents=True, exist_ok=True)
    final = checkpoints / f"step-{step:08d}.pt"
    partial = final.with_name(final.name + ".partial")
    torch.save({**state, "step": step}, partial)
    os.replace(partial, final)
    for older in checkpoints.glob(_PATTERN):
        if older != final:
            older.unlink()
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in ``folder``, or None."""
    found = sorted((folder / FOLDER).glob(_PATTERN))
    return found[-1] if found else None


def load_checkpoint(path: Path, digest: str) -> dict[str, Any]:
    """The checkpoint's state; it must come from a run with the same settings."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("digest") != digest:
        raise ValueError(
            f"{path}: written by a run with other settings (digest {state.get('digest')}, "
            f"now {digest}): resume with the same recipe file and --smoke choice"
        )
    return state

"""The calibration text: reasoning traces, one per line, split into a calibration
part (GPTQ's Hessians) and a held-out tail (the quality report), tokenized into
fixed-length sequences."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import EdgeReasonError

# The held-out tail: every HELD_OUT_EVERY-th trace (at least one) is not used to
# calibrate, so the quality report measures text the quantizer never saw.
HELD_OUT_EVERY = 10
SEQUENCE_TOKENS = 256
MAX_CALIBRATION_TOKENS = 32768
MAX_HELD_OUT_TOKENS = 8192
# Used without --calibration by round-to-nearest, which needs text only for the quality
# report: short general sentences (arithmetic, stories, explanations), no domain's traces.
DEFAULT_CALIBRATION = Path(__file__).with_name("default_calibration.txt")


class CalibrationError(EdgeReasonError, ValueError):
    """A calibration file that cannot be used: missing, empty, too short."""


@dataclass(frozen=True)
class CalibrationText:
    path: Path
    sha256: str
    calibration: list[torch.Tensor]  # [1, T] token id sequences
    held_out: list[torch.Tensor]

    @property
    def description(self) -> str:
        """What the text is, for the quality report."""
        if self.path == DEFAULT_CALIBRATION:
            return f"the built-in sample text ({DEFAULT_CALIBRATION.name}), no --calibration given"
        return self.path.name

    def provenance(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "builtin": self.path == DEFAULT_CALIBRATION,
            "sha256": self.sha256,
            "calibration_tokens": sum(int(s.numel()) for s in self.calibration),
            "held_out_tokens": sum(int(s.numel()) for s in self.held_out),
        }


def _sequences(ids: list[int], limit: int) -> list[torch.Tensor]:
    ids = ids[:limit]
    return [
        torch.tensor([ids[i : i + SEQUENCE_TOKENS]], dtype=torch.long)
        for i in range(0, len(ids) - 1, SEQUENCE_TOKENS)
        if len(ids[i : i + SEQUENCE_TOKENS]) > 1
    ]


def load_calibration(path: Path, tokenizer: Any) -> CalibrationText:
    """Read a UTF-8 text file of reasoning traces (one per non-empty line)."""
    if not path.is_file():
        raise CalibrationError(f"{path}: calibration file not found")
    raw = path.read_bytes()
    try:
        lines = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise CalibrationError(f"{path}: not UTF-8 text (byte {e.start})") from e
    if len(lines) < 2:
        raise CalibrationError(
            f"{path}: needs at least 2 non-empty lines (traces to calibrate on and a "
            f"held-out one for the quality report), found {len(lines)}"
        )
    held_out = {i for i in range(len(lines)) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    held_out = held_out or {len(lines) - 1}
    held = [line for i, line in enumerate(lines) if i in held_out]
    calib = [line for i, line in enumerate(lines) if i not in held_out]

    def ids(part: list[str]) -> list[int]:
        return [t for line in part for t in tokenizer.encode(line + "\n").ids]

    text = CalibrationText(
        path,
        hashlib.sha256(raw).hexdigest(),
        _sequences(ids(calib), MAX_CALIBRATION_TOKENS),
        _sequences(ids(held), MAX_HELD_OUT_TOKENS),
    )
    if not text.calibration or not text.held_out:
        raise CalibrationError(f"{path}: too little text (fewer than 2 tokens in a split)")
    return text

"""What a training step minimises, on the target tokens of a packed batch only.

The teacher learns the gold chains by cross-entropy. The student learns from the teacher
with the export pipeline's distillation loss (``distill.distillation_losses``: T^2-scaled KL
to the teacher's softened distribution, mixed with cross-entropy by ``alpha``), computed at
the same target positions under the same attention mask: the pipeline's ``distill`` packs
plain text end to end and puts its loss on every token, which would spend the student on
predicting random story sentences and let stories attend to each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...distill import distillation_losses
from .packing import Batch

if TYPE_CHECKING:
    import torch


def target_positions(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions whose next token is a target, those next tokens): a token's prediction
    sits at the position before it (the target's block always holds that position)."""
    predicts = batch.targets[:, 1:]
    return predicts, batch.ids[:, 1:][predicts]


class CrossEntropy:
    """The teacher's objective."""

    def __call__(self, model: Any, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        import torch.nn.functional as F

        predicts, labels = target_positions(batch)
        logits = model(**batch.model_inputs()).logits[:, :-1][predicts]
        loss = F.cross_entropy(logits.float(), labels)
        return loss, {"ce": float(loss.detach())}


class Distillation:
    """The student's objective: ``alpha * KD + (1 - alpha) * CE`` against a frozen teacher."""

    def __init__(self, teacher: Any, temperature: float, alpha: float) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.temperature = temperature
        self.alpha = alpha

    def __call__(self, model: Any, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        import torch

        predicts, labels = target_positions(batch)
        with torch.no_grad():
            teacher_logits = self.teacher(**batch.model_inputs()).logits[:, :-1][predicts]
        student_logits = model(**batch.model_inputs()).logits[:, :-1][predicts]
        kd, ce = distillation_losses(student_logits, teacher_logits, labels, self.temperature)
        loss = self.alpha * kd + (1 - self.alpha) * ce
        return loss, {"kd": float(kd.detach()), "ce": float(ce.detach())}

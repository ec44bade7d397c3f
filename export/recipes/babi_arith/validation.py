"""The validation curve: per-task accuracy on a slice of the validation split, during training.

One forward pass per batch, with the gold chain fed in (teacher forcing). A question's
``chain`` is right when the model's top token is right at every target position: then greedy
generation writes exactly the gold chain, citations and answer. ``answer`` looks at the
final answer's tokens alone (given the gold reasoning before it), so it runs ahead of
``chain``. The full evaluation with the Reasoner and the verifier comes after training.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from .documents import SHARED
from .packing import EncodedDocument, PackedSequences, make_batch, pack

PASS_ERROR = 0.05  # a bAbI task passes when its error is below 5%


class ValidationCurve:
    """Scores a model on fixed validation documents."""

    def __init__(self, encoded: list[EncodedDocument], buckets: tuple[int, ...]) -> None:
        self.encoded = encoded
        self.packed = pack(encoded, buckets) if encoded else []

    def measure(self, model: Any, batch_tokens: int) -> dict[str, Any]:
        """Per task: chain and answer accuracy and the number of questions."""
        import torch

        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # chain, answer, n
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for sequences in self.packed:
                size = max(1, batch_tokens // sequences.length)
                for start in range(0, len(sequences), size):
                    rows = np.arange(start, min(start + size, len(sequences)))
                    batch = make_batch(sequences, rows)
                    logits = model(**batch.model_inputs()).logits[:, :-1]
                    right = (logits.argmax(-1) == batch.ids[:, 1:]).numpy()
                    self._count(sequences, rows, right, counts)
        model.train(was_training)
        per_task = {
            task: {"chain": chain / n, "answer": answer / n, "n": n}
            for task, (chain, answer, n) in sorted(counts.items())
        }
        babi = [v for task, v in per_task.items() if task.startswith("qa")]
        return {
            "per_task": per_task,
            "babi_tasks_passed_chain": sum(v["chain"] > 1 - PASS_ERROR for v in babi),
            "babi_mean_answer": float(np.mean([v["answer"] for v in babi])) if babi else None,
        }

    def _count(
        self,
        sequences: PackedSequences,
        rows: np.ndarray,
        right: np.ndarray,
        counts: dict[str, list[int]],
    ) -> None:
        # position t predicts token t + 1: align the token labels with the predictions
        groups = sequences.groups[rows][:, 1:]
        blocks = sequences.blocks[rows][:, 1:]
        targets = sequences.targets[rows][:, 1:]
        answers = sequences.answers[rows][:, 1:]
        for i, row in enumerate(rows):
            for group, index in enumerate(sequences.documents[row]):
                task = self.encoded[index].task
                in_group = (groups[i] == group) & targets[i]
                for block in np.unique(blocks[i][in_group]):
                    if block == SHARED:
                        continue
                    chain = in_group & (blocks[i] == block)
                    tally = counts[task]
                    tally[0] += bool(right[i][chain].all())
                    tally[1] += bool(right[i][chain & answers[i]].all())
                    tally[2] += 1

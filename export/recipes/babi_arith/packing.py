"""Documents -> token sequences of a few fixed lengths -> batches with their attention masks.

Each token carries the document it belongs to (``group``, unique within its sequence) and its
block (documents.py). Token i attends to token j <= i of the same group when j is in the
shared block or in i's own block; positions count the shared tokens before a block and then
the block's own tokens, so each question block sees the exact prompt of inference, with the
positions inference would give it. The loss falls on target tokens only (the chain, its
answer and the end-of-sequence token that closes it).

Sequences have one of the configured lengths (the smallest that holds the document; short
documents share a sequence), because the first steps at each new length are slow. The order
of batches is a pure function of (seed, step), so a resumed run continues at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .documents import SHARED, Document

if TYPE_CHECKING:
    import torch

PADDING_GROUP = -1


@dataclass(frozen=True)
class EncodedDocument:
    task: str
    ids: np.ndarray  # int64 token ids
    blocks: np.ndarray  # int32 block of each token
    positions: np.ndarray  # int64 position id of each token
    targets: np.ndarray  # bool: the token is predicted with a loss
    answers: np.ndarray  # bool: the token belongs to a final answer (for the curve)

    def __len__(self) -> int:
        return int(self.ids.size)


def encode_document(document: Document, tokenizer: Any, eos_id: int) -> EncodedDocument:
    """Tokenize segment by segment (as inference prefills, then generates); an
    end-of-sequence token closes every answer."""
    ids: list[int] = []
    blocks: list[int] = []
    positions: list[int] = []
    targets: list[bool] = []
    answers: list[bool] = []
    shared = 0  # shared-block tokens so far: where the next block's positions start
    block_length: dict[int, int] = {}
    for segment in document.segments:
        piece = tokenizer.encode(segment.text).ids
        if segment.role == "answer":
            piece = [*piece, eos_id]
        for token in piece:
            if segment.block == SHARED:
                position = shared
                shared += 1
            else:
                position = shared + block_length.setdefault(segment.block, 0)
                block_length[segment.block] += 1
            ids.append(token)
            blocks.append(segment.block)
            positions.append(position)
            targets.append(segment.is_target)
            answers.append(segment.role == "answer")
    return EncodedDocument(
        document.task,
        np.array(ids, dtype=np.int64),
        np.array(blocks, dtype=np.int32),
        np.array(positions, dtype=np.int64),
        np.array(targets, dtype=bool),
        np.array(answers, dtype=bool),
    )


@dataclass(frozen=True)
class PackedSequences:
    """Sequences of one length: every array is [sequences, length]."""

    length: int
    ids: np.ndarray
    groups: np.ndarray
    blocks: np.ndarray
    positions: np.ndarray
    targets: np.ndarray
    answers: np.ndarray
    documents: list[list[int]]  # per sequence, the indices of its documents

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def pack(encoded: list[EncodedDocument], buckets: tuple[int, ...]) -> list[PackedSequences]:
    """First-fit packing of the documents into sequences of the bucket lengths."""
    longest = max(buckets)
    by_bucket: dict[int, list[int]] = {length: [] for length in buckets}
    for index, document in enumerate(encoded):
        if len(document) > longest:
            raise ValueError(
                f"a {document.task} document has {len(document)} tokens, more than the "
                f"longest packing bucket ({longest}): add a longer bucket"
            )
        by_bucket[next(b for b in buckets if b >= len(document))].append(index)
    packed = []
    for length, indices in by_bucket.items():
        if indices:
            packed.append(_fill(encoded, sorted(indices, key=lambda i: -len(encoded[i])), length))
    return packed


def _fill(encoded: list[EncodedDocument], indices: list[int], length: int) -> PackedSequences:
    rows: list[list[int]] = []
    room: list[int] = []
    for index in indices:
        size = len(encoded[index])
        row = next((r for r, free in enumerate(room) if free >= size), None)
        if row is None:
            rows.append([])
            room.append(length)
            row = len(rows) - 1
        rows[row].append(index)
        room[row] -= size
    shape = (len(rows), length)
    sequences = PackedSequences(
        length,
        ids=np.zeros(shape, dtype=np.int64),
        groups=np.full(shape, PADDING_GROUP, dtype=np.int32),
        blocks=np.zeros(shape, dtype=np.int32),
        positions=np.zeros(shape, dtype=np.int64),
        targets=np.zeros(shape, dtype=bool),
        answers=np.zeros(shape, dtype=bool),
        documents=rows,
    )
    for row, members in enumerate(rows):
        start = 0
        for group, index in enumerate(members):
            document = encoded[index]
            end = start + len(document)
            sequences.ids[row, start:end] = document.ids
            sequences.groups[row, start:end] = group
            sequences.blocks[row, start:end] = document.blocks
            sequences.positions[row, start:end] = document.positions
            sequences.targets[row, start:end] = document.targets
            sequences.answers[row, start:end] = document.answers
            start = end
    return sequences


@dataclass(frozen=True)
class Batch:
    """Model inputs for a batch: ``mask`` is the boolean [B, 1, L, L] attention mask."""

    ids: torch.Tensor
    positions: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor  # bool [B, L]
    answers: torch.Tensor  # bool [B, L]
    real: torch.Tensor  # bool [B, L]: not padding
    tokens: int  # non-padding tokens

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids, "position_ids": self.positions, "attention_mask": self.mask}


def make_batch(sequences: PackedSequences, rows: np.ndarray) -> Batch:
    import torch

    groups = torch.from_numpy(sequences.groups[rows])
    real = groups != PADDING_GROUP
    blocks = torch.from_numpy(sequences.blocks[rows])
    length = sequences.length
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same_group = groups[:, :, None] == groups[:, None, :]
    visible = (blocks[:, None, :] == SHARED) | (blocks[:, :, None] == blocks[:, None, :])
    # every row sees itself, so padding rows are not all masked (which would give NaN)
    mask = (same_group & visible & causal) | torch.eye(length, dtype=torch.bool)
    return Batch(
        ids=torch.from_numpy(sequences.ids[rows]),
        positions=torch.from_numpy(sequences.positions[rows]),
        mask=mask[:, None],
        targets=torch.from_numpy(sequences.targets[rows]),
        answers=torch.from_numpy(sequences.answers[rows]),
        real=real,
        tokens=int(real.sum()),
    )


class BatchSchedule:
    """Which rows of which bucket each step trains on: a seeded shuffle per epoch.

    Sequences of one length go together, ``batch_tokens // length`` per batch (at least
    one); the batches of all lengths are shuffled together each epoch.
    """

    def __init__(self, packed: list[PackedSequences], batch_tokens: int, seed: int) -> None:
        self.packed = packed
        self.seed = seed
        self.sizes = [max(1, batch_tokens // p.length) for p in packed]
        self.per_epoch = sum(-(-len(p) // size) for p, size in zip(packed, self.sizes, strict=True))
        self._epoch = -1
        self._order: list[tuple[int, np.ndarray]] = []

    def batch(self, step: int) -> tuple[PackedSequences, np.ndarray]:
        """The bucket and its rows for optimizer step ``step`` (0-based)."""
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._order = self._epoch_order(epoch)
            self._epoch = epoch
        bucket, rows = self._order[index]
        return self.packed[bucket], rows

    def _epoch_order(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        batches = []
        for bucket, (sequences, size) in enumerate(zip(self.packed, self.sizes, strict=True)):
            rows = rng.permutation(len(sequences))
            batches += [(bucket, rows[i : i + size]) for i in range(0, len(rows), size)]
        return [batches[i] for i in rng.permutation(len(batches))]

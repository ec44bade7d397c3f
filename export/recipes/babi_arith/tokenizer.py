"""The word-level tokenizer, trained on the training split with `tokenizers`.

A token is a word, a single digit or a single punctuation mark, each with the one space
before it if there is one; a newline is a token of its own. Digits are single so that any
number can be written and added column by column; the leading space is kept inside the token
so that decoding is plain concatenation: text round-trips exactly ("Facts: 4 11." decodes as
written, where space-joined word tokens would give "Facts : 4 1 1 ."), and the verifier and
the answer extraction read the model's output as it was meant.

Prompt and target are tokenized as separate segments in training, exactly as the engine
prefills a prompt and then generates; a newline or the prompt's end always ends a token, so
this split never changes a tokenization.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PAD, UNKNOWN, EOS = "<pad>", "<unk>", "</s>"
SPECIAL_TOKENS = (PAD, UNKNOWN, EOS)
TOKEN_PATTERN = r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\n|[^\S\n]+"
# every digit, alone and after a space, so that numbers never seen in training can be written
_ALL_DIGITS = ("0123456789", " 0 1 2 3 4 5 6 7 8 9")


def train_tokenizer(texts: Iterable[str], path: Path) -> int:
    """Train on ``texts`` and save tokenizer.json at ``path``; return the vocabulary size."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNKNOWN))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=1)
    tokenizer.train_from_iterator(_with_digits(texts), trainer=trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return tokenizer.get_vocab_size()


def _with_digits(texts: Iterable[str]) -> Iterable[str]:
    yield from _ALL_DIGITS
    yield from texts


def load_tokenizer(path: Path) -> Tokenizer:
    """The recipe's tokenizer; its special token ids are checked."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    for expected, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != expected:
            raise ValueError(f"{path}: {token} must have id {expected}")
    return tokenizer

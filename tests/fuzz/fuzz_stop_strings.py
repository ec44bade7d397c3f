"""Fuzz target: the streaming text path of generation: token ids pushed one at a time
through TextStream (byte-level BPE, which can end a token inside a UTF-8 character), the
text watched for stop strings as Engine.generate watches it, and the input's text encoded
back to ids. The released text must equal one decode of all the ids, and a stop must be
found where its earliest occurrence starts."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from edge_reason.text_stream import TextStream, first_stop
from fuzz.harness import parts

# Stop strings, the text to encode, and the token ids (two bytes each, little-endian).
PARTS = 3


def byte_level_tokenizer() -> Tokenizer:
    """The 256 byte tokens, a few merges that join bytes of one character, and a special
    token: enough to end a token in the middle of a character."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    merges = [("Ã", "©"), ("â", "Ģ"), ("âĢ", "¦"), ("Ġ", "t"), ("Ġt", "h")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|end|>"])
    return tokenizer


TOKENIZER = byte_level_tokenizer()


def TestOneInput(data: bytes) -> None:
    stop_part, text_part, id_part = parts(data, PARTS)
    stops = tuple(s for s in stop_part.decode("utf-8", "replace").split("\n") if s)
    ids = [
        int.from_bytes(id_part[i : i + 2], "little") % TOKENIZER.get_vocab_size()
        for i in range(0, len(id_part) - 1, 2)
    ]
    ids += TOKENIZER.encode(text_part.decode("utf-8", "replace")).ids
    stream = TextStream(TOKENIZER)
    text = "".join(stream.push(token) for token in ids) + stream.flush()
    assert text == TOKENIZER.decode(ids, skip_special_tokens=True), (text, ids)
    cut = first_stop(text, stops)
    earliest = [text.find(s) for s in stops if s in text]
    assert cut == (min(earliest) if earliest else None), (text, stops, cut)

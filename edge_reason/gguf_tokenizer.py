"""A Hugging Face tokenizer built from a GGUF file's vocabulary, giving llama.cpp's token ids.

A GGUF model carries its tokenizer as metadata (`tokenizer.ggml.*`) rather than a
tokenizer.json. Two of its tokenizer models are built here:

- "gpt2": byte-level BPE. Text is cut into words by the rules llama.cpp names in
  `tokenizer.ggml.pre` (gguf_pretokenizers), each word's bytes are mapped to printable
  characters and merged by the ranked `tokenizer.ggml.merges`.
- "llama": SentencePiece-style BPE. Spaces become "▁", a "▁" goes before every span of text
  (`add_space_prefix`), neighbouring pieces merge best `tokenizer.ggml.scores` first, and
  characters outside the vocabulary fall back to their <0xXX> byte tokens.

Control (token type 3) and unknown (2) tokens are matched whole in the text when special
tokens are parsed (llama.cpp's `special=True`; here the default, or
`encode_special_tokens = False`); user-defined (4) tokens are always matched whole.
`encode(text)` adds BOS/EOS where llama.cpp's `add_special` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing

from .errors import ModelFormatError
from .gguf_pretokenizers import RULES, PreTokenizerRule
from .gguf_special_names import CONTROL_BY_NAME, END_OF_GENERATION, FILL_IN_MIDDLE_STOPS

KEY = "tokenizer.ggml."
# llama.cpp's token types (gguf.TokenType)
UNKNOWN, CONTROL, USER_DEFINED = 2, 3, 4
SPACE = "▁"  # SentencePiece's visible space
# ids of tokens that end a turn, beside EOS
END_OF_TURN_KEYS = ("eot_token_id", "eom_token_id")


@dataclass(frozen=True)
class GgufTokenizer:
    """The tokenizer and what a runtime needs beside it: BOS/EOS, whether they are added, and
    the tokens that end generation (llama.cpp's EOG set: EOS, EOT and end-of-turn markers).

    The token strings are those chat templates use as `bos_token` / `eos_token`.
    """

    tokenizer: Tokenizer
    bos_token_id: int | None
    eos_token_id: int | None
    bos_token: str | None
    eos_token: str | None
    add_bos: bool  # llama.cpp puts BOS before a prompt
    add_eos: bool
    end_of_generation_ids: frozenset[int]


def tokenizer_from_gguf(metadata: Mapping[str, Any], where: str) -> GgufTokenizer:
    """Build the tokenizer that `metadata` (GGUF keys -> plain values) describes.

    where: the file it came from, for error messages. Raises ModelFormatError naming the key
    for a missing or inconsistent vocabulary, or a tokenizer model or pre-tokenizer that
    llama.cpp would tokenize differently from anything built here.
    """
    fields = _Fields(metadata, where)
    kind = fields.get("model", str)
    tokens = _token_texts(fields)
    vocab = {text: i for i, text in enumerate(tokens)}
    token_types = fields.get_list("token_type", int, len(tokens), default=[1] * len(tokens))
    if kind == "gpt2":
        pre = fields.get("pre", str, default="default")
        rule = RULES.get(pre)
        if rule is None:
            fields.fail("pre", f"pre-tokenizer {pre!r} is not one this runtime implements")
        tokenizer = _byte_level_bpe(vocab, _merge_pairs(fields, vocab), rule)
        default_bos = default_eos = None
        adds_bos_by_default = rule.add_bos
    elif kind == "llama":
        scores = fields.get_list("scores", float, len(tokens))
        add_space_prefix = fields.get("add_space_prefix", bool, default=True)
        unknown = fields.token_id("unknown_token_id", len(tokens), default=0)
        tokenizer = _sentencepiece_bpe(tokens, scores, vocab, add_space_prefix, unknown)
        # llama.cpp's defaults for this model, where the file does not name them
        default_bos, default_eos = 1, 2
        adds_bos_by_default = True
    else:
        fields.fail("model", f"tokenizer model {kind!r} is not supported (only 'gpt2', 'llama')")

    _add_whole_tokens(tokenizer, tokens, token_types, vocab)
    bos = fields.token_id("bos_token_id", len(tokens), default=default_bos)
    eos = fields.token_id("eos_token_id", len(tokens), default=default_eos)
    add_bos = fields.get("add_bos_token", bool, default=adds_bos_by_default)
    add_eos = fields.get("add_eos_token", bool, default=False)
    if add_bos and bos is None:
        fields.fail("bos_token_id", "missing, but add_bos_token asks for a BOS token")
    if add_eos and eos is None:
        fields.fail("eos_token_id", "missing, but add_eos_token asks for an EOS token")
    tokenizer.post_processor = _bos_eos_template(
        tokens, bos if add_bos else None, eos if add_eos else None
    )
    ends_of_turn = [fields.token_id(name, len(tokens), None) for name in END_OF_TURN_KEYS]
    stops_by_name = (vocab.get(text) for text in END_OF_GENERATION | FILL_IN_MIDDLE_STOPS)
    return GgufTokenizer(
        tokenizer=tokenizer,
        bos_token_id=bos,
        eos_token_id=eos,
        bos_token=None if bos is None else tokens[bos],
        eos_token=None if eos is None else tokens[eos],
        add_bos=add_bos,
        add_eos=add_eos,
        end_of_generation_ids=frozenset({eos, *ends_of_turn, *stops_by_name} - {None}),
    )


class _Fields:
    """Typed access to the `tokenizer.ggml.*` keys, failing with the file and key named."""

    def __init__(self, metadata: Mapping[str, Any], where: str) -> None:
        self.metadata = metadata
        self.where = where

    def fail(self, name: str, problem: str) -> NoReturn:
        raise ModelFormatError(f"{self.where}: {KEY}{name}: {problem}")

    def get(self, name: str, kind: type, default: Any = ...) -> Any:
        value = self.metadata.get(KEY + name, default)
        if value is ...:
            self.fail(name, "missing")
        if value is not default and not _is_a(value, kind):
            self.fail(name, f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    def get_list(self, name: str, kind: type, length: int | None, default: Any = ...) -> list[Any]:
        values = self.get(name, list, default)
        if length is not None and len(values) != length:
            self.fail(name, f"{len(values)} entries for {length} tokens")
        allowed = _ALLOWED_TYPES.get(kind, (kind,))
        # one pass in C for the common case; the loop only runs to name a bad entry
        if not set(map(type, values)) <= set(allowed):
            bad = next(i for i, v in enumerate(values) if type(v) not in allowed)
            self.fail(name, f"entry {bad} is {values[bad]!r}, not a {kind.__name__}")
        return values

    def token_id(self, name: str, n_tokens: int, default: int | None) -> int | None:
        token = self.get(name, int, default)
        if token is not None and not 0 <= token < n_tokens:
            self.fail(name, f"token id {token} is out of range for {n_tokens} tokens")
        return token


# exact types: a bool is no token id, an int is a fine score
_ALLOWED_TYPES = {float: (float, int), int: (int,)}


def _is_a(value: Any, kind: type) -> bool:
    return type(value) in _ALLOWED_TYPES.get(kind, (kind,))


def _token_texts(fields: _Fields) -> list[str]:
    tokens = fields.get("tokens", list)
    if not tokens:
        fields.fail("tokens", "empty")
    tokens = fields.get_list("tokens", str, None)
    # llama.cpp keeps an empty token under a placeholder name so later ids stay in place
    tokens = [text or f"[EMPTY_{i}]" for i, text in enumerate(tokens)]
    if len(set(tokens)) != len(tokens):
        first_id: dict[str, int] = {}
        repeat = next(i for i, text in enumerate(tokens) if first_id.setdefault(text, i) != i)
        first = first_id[tokens[repeat]]
        fields.fail("tokens", f"token {repeat} {tokens[repeat]!r} repeats token {first}")
    return tokens


def _merge_pairs(fields: _Fields, known: Mapping[str, int]) -> list[tuple[str, str]]:
    """The merges as (left, right) pairs, highest priority first.

    A merge whose pieces are not all tokens can only join pieces that are never emitted, so it
    is dropped (llama.cpp keeps it unused; the export writes one when there are no merges).
    """
    entries = fields.get("merges", list)
    # the left piece is never empty, so the separator is the first space after its first letter
    halves = [entry[1:].partition(" ") if type(entry) is str else ("", "", "") for entry in entries]
    bad = next((i for i, (_, space, right) in enumerate(halves) if not (space and right)), None)
    if bad is not None:
        fields.fail(
            "merges", f"entry {bad} {entries[bad]!r} is not two symbols separated by a space"
        )
    firsts = (entry[0] for entry in entries)
    pairs = [(first + left, right) for first, (left, _, right) in zip(firsts, halves, strict=True)]
    return [(a, b) for a, b in pairs if a in known and b in known and a + b in known]


def _byte_level_bpe(
    vocab: dict[str, int], merges: list[tuple[str, str]], rule: PreTokenizerRule
) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=rule.ignore_merges))
    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in rule.patterns]
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _sentencepiece_bpe(
    tokens: list[str],
    scores: list[float],
    vocab: dict[str, int],
    add_space_prefix: bool,
    unknown: int | None,
) -> Tokenizer:
    model = models.BPE(
        vocab,
        _merges_by_score(tokens, scores, vocab),
        unk_token=None if unknown is None else tokens[unknown],
        byte_fallback=True,
    )
    tokenizer = Tokenizer(model)
    spaces = normalizers.Replace(" ", SPACE)
    tokenizer.normalizer = (
        normalizers.Sequence([normalizers.Prepend(SPACE), spaces]) if add_space_prefix else spaces
    )
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tokenizer.decoder = decoders.Sequence(steps)
    return tokenizer


def _merges_by_score(
    tokens: list[str], scores: list[float], vocab: Mapping[str, int]
) -> list[tuple[str, str]]:
    """Every way to join two tokens into a third, the best-scoring result first.

    llama.cpp joins the neighbouring pair whose union is the best-scoring token; BPE applies
    the earliest merge present, so ranking each token's splits by its score is the same rule.
    """
    best_first = sorted(range(len(tokens)), key=scores.__getitem__, reverse=True)
    splits = (
        (text[:cut], text[cut:])
        for text in map(tokens.__getitem__, best_first)
        for cut in range(1, len(text))
    )
    return [(left, right) for left, right in splits if left in vocab and right in vocab]


def _add_whole_tokens(
    tokenizer: Tokenizer, tokens: list[str], token_types: list[int], vocab: Mapping[str, int]
) -> None:
    """Control, unknown and user-defined tokens: matched as a whole, as llama.cpp does.

    Tokens llama.cpp knows by name are control tokens whatever their type says.
    """
    named = {vocab[text] for text in CONTROL_BY_NAME if text in vocab}
    control = named.union(i for i, kind in enumerate(token_types) if kind in (CONTROL, UNKNOWN))
    user_defined = [i for i, kind in enumerate(token_types) if kind == USER_DEFINED]

    def whole(ids: Iterable[int], special: bool) -> list[AddedToken]:
        return [AddedToken(tokens[i], special=special, normalized=False) for i in ids]

    tokenizer.add_special_tokens(whole(sorted(control), True))
    tokenizer.add_tokens(whole((i for i in user_defined if i not in control), False))


def _bos_eos_template(tokens: list[str], bos: int | None, eos: int | None) -> TemplateProcessing:
    ends = list({tokens[i]: i for i in (bos, eos) if i is not None}.items())
    before = [tokens[bos]] if bos is not None else []
    after = [tokens[eos]] if eos is not None else []
    return TemplateProcessing(
        single=[*before, "$A", *after],
        pair=[*before, "$A", *after, *before, "$B", *after],
        special_tokens=ends,
    )

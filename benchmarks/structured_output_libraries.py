"""Constrained-decoding libraries compared on this machine: llguidance, xgrammar, outlines-core.

    python benchmarks/structured_output_libraries.py [--json FILE]

For two vocabularies, SmolLM2's (49,152 byte-level BPE tokens, read from the GGUF file
the tests use) and a 151,936-token byte-level BPE of Qwen2.5's size (SmolLM2's extended
with 102,784 merges of two of its tokens, deterministic), it measures per schema:
compile time (schema to a matcher ready for the first mask) and the time of one token's mask
(mean over the tokens of a valid document, each mask computed and then the token consumed,
as in decoding). Coverage: each schema compiles, the valid document is accepted whole, and a
document breaking the schema's feature is refused. Single-threaded, one process; xgrammar
and outlines-core are only installed to compare (pip install --no-deps xgrammar==0.2.8
apache-tvm-ffi outlines-core==0.2.14): llguidance alone is a dependency.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.gguf_vocabularies import read_metadata  # noqa: E402
from helpers.real_models import smollm2_gguf  # noqa: E402

from edge_reason.gguf_tokenizer import build_gguf_tokenizer  # noqa: E402
from edge_reason.structured_output import grammar_tokenizer, token_bytes  # noqa: E402

QWEN_VOCAB = 151_936

# name -> (schema, a valid document, a document that breaks the feature the schema tests)
CASES = {
    "enum": (
        {
            "type": "object",
            "properties": {"c": {"enum": ["red", "green", "blue"]}},
            "required": ["c"],
            "additionalProperties": False,
        },
        {"c": "green"},
        {"c": "pink"},
    ),
    "nested objects": (
        {
            "type": "object",
            "properties": {
                "p": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "addr": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                            "additionalProperties": False,
                        },
                    },
                    "required": ["name", "addr"],
                    "additionalProperties": False,
                }
            },
            "required": ["p"],
            "additionalProperties": False,
        },
        {"p": {"name": "Ada Lovelace", "addr": {"city": "London"}}},
        {"p": {"name": "Ada Lovelace", "addr": {}}},
    ),
    "array minItems/maxItems": (
        {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3},
        [12, 345, 6],
        [1, 2, 3, 4],
    ),
    "number minimum/maximum": (
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 10, "maximum": 99},
                "x": {"type": "number", "minimum": 0.5, "maximum": 2.5},
            },
            "required": ["n", "x"],
            "additionalProperties": False,
        },
        {"n": 42, "x": 1.25},
        {"n": 420, "x": 1.25},
    ),
    "string pattern": (
        {
            "type": "object",
            "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["zip"],
            "additionalProperties": False,
        },
        {"zip": "75001"},
        {"zip": "7500A"},
    ),
    "mixed (long)": (
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 0},
                "title": {"type": "string", "maxLength": 80},
                "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 5},
                "meta": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}, "score": {"type": "number"}},
                    "required": ["ok", "score"],
                    "additionalProperties": False,
                },
            },
            "required": ["id", "title", "tags", "meta"],
            "additionalProperties": False,
        },
        {
            "id": 12345,
            "title": "The quick brown fox jumps over the lazy dog, twice over",
            "tags": ["a", "c", "b"],
            "meta": {"ok": True, "score": 3.14159},
        },
        {"id": 12345, "title": "x", "tags": ["d"], "meta": {"ok": True, "score": 1}},
    ),
}


def qwen_sized(tokenizer):
    """SmolLM2's byte-level BPE grown to Qwen2.5's 151,936 ids by merging pairs of its tokens."""
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.to_str())
    vocab, merges = data["model"]["vocab"], data["model"]["merges"]
    added = {t["content"] for t in data["added_tokens"]}
    words = [t for t in vocab if t not in added and len(t) > 1]
    rng = random.Random(0)
    next_id = max(vocab.values()) + 1
    while next_id < QWEN_VOCAB:
        a, b = rng.choice(words), rng.choice(words)
        if b.startswith("Ġ") or a + b in vocab:
            continue
        vocab[a + b] = next_id
        merges.append([a, b] if isinstance(merges[0], list) else f"{a} {b}")
        next_id += 1
    return Tokenizer.from_str(json.dumps(data))


class Llguidance:
    name = "llguidance 1.9.1"

    def __init__(self, tokenizer, vocab, eos):
        self.tok = grammar_tokenizer(tokenizer, vocab, [eos])
        self.mask = np.zeros((vocab + 31) // 32, dtype=np.int32)

    def compile(self, schema):
        import llguidance

        m = llguidance.LLMatcher(
            self.tok, llguidance.LLMatcher.grammar_from_json_schema(schema), log_level=0
        )
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def step(self, m, token):
        m.unsafe_compute_mask_ptr(self.mask.ctypes.data, self.mask.nbytes)
        return m.consume_token(token)

    def accepts(self, m, tokens):
        return all(m.consume_token(t) for t in tokens) and m.is_accepting()


class Xgrammar:
    name = "xgrammar 0.2.8"

    def __init__(self, tokenizer, vocab, eos):
        import xgrammar as xgr

        tokens, special = token_bytes(tokenizer, vocab)
        for i in special:
            tokens[i] = b""  # xgrammar treats empty entries as special
        info = xgr.TokenizerInfo(tokens, xgr.VocabType.RAW, vocab_size=vocab, stop_token_ids=[eos])
        self.compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        self.mask = xgr.allocate_token_bitmask(1, vocab)
        self.xgr, self.eos = xgr, eos

    def compile(self, schema):
        compiled = self.compiler.compile_json_schema(
            json.dumps(schema), any_whitespace=False, separators=(",", ":")
        )
        return self.xgr.GrammarMatcher(compiled)

    def step(self, m, token):
        m.fill_next_token_bitmask(self.mask)
        return m.accept_token(token)

    def accepts(self, m, tokens):  # the stop token is accepted only where the JSON is whole
        return all(m.accept_token(t) for t in tokens) and m.accept_token(self.eos)


class OutlinesCore:
    name = "outlines-core 0.2.14"

    def __init__(self, tokenizer, vocab, eos):
        from outlines_core import Vocabulary

        tokens, special = token_bytes(tokenizer, vocab)
        skip = set(special) | {eos}
        by_bytes: dict[bytes, list[int]] = {}
        for i, t in enumerate(tokens):
            if t and i not in skip:
                by_bytes.setdefault(t, []).append(i)
        self.vocabulary = Vocabulary(eos, by_bytes)
        self.mask = np.zeros((vocab + 31) // 32, dtype=np.int32)

    def compile(self, schema):
        from outlines_core import Guide, Index
        from outlines_core.json_schema import build_regex_from_schema

        regex = build_regex_from_schema(json.dumps(schema), whitespace_pattern="")
        return Guide(Index(regex, self.vocabulary))

    def step(self, m, token):
        m.write_mask_into(self.mask.ctypes.data, self.mask.size, self.mask.itemsize)
        m.advance(token)
        return True

    def accepts(self, m, tokens):
        try:
            for t in tokens:
                m.advance(t)
        except Exception:
            return False
        return m.is_finished()


def measure(lib_cls, tokenizer, vocab, eos):
    t = time.perf_counter()
    lib = lib_cls(tokenizer, vocab, eos)
    setup = time.perf_counter() - t
    rows = {}
    for name, (schema, good, bad) in CASES.items():
        encode = lambda doc: tokenizer.encode(json.dumps(doc, separators=(",", ":"))).ids  # noqa: E731
        try:
            t = time.perf_counter()
            m = lib.compile(schema)
            compile_s = time.perf_counter() - t
        except Exception as e:
            rows[name] = {"error": f"{type(e).__name__}: {str(e)[:80]}"}
            continue
        ids = encode(good)
        times = []
        ok = True
        for token in ids:
            t = time.perf_counter()
            ok = lib.step(m, token) and ok
            times.append(time.perf_counter() - t)
        refused = not lib.accepts(lib.compile(schema), encode(bad))
        accepted = lib.accepts(lib.compile(schema), ids)
        rows[name] = {
            "compile_ms": compile_s * 1e3,
            "mask_us_mean": statistics.mean(times) * 1e6,
            "mask_us_max": max(times) * 1e6,
            "tokens": len(ids),
            "valid_accepted": bool(ok and accepted),
            "invalid_refused": bool(refused),
        }
    return {"setup_s": setup, "schemas": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--libraries", default="llguidance,xgrammar,outlines-core")
    args = parser.parse_args()
    gguf = build_gguf_tokenizer(read_metadata(smollm2_gguf()), "smollm2")
    small = gguf.tokenizer
    eos = gguf.eos_token_id
    vocabularies = {"SmolLM2 49k": (small, small.get_vocab_size())}
    vocabularies["Qwen2.5-size 152k"] = (qwen_sized(small), QWEN_VOCAB)
    libraries = {"llguidance": Llguidance, "xgrammar": Xgrammar, "outlines-core": OutlinesCore}
    report = {}
    for vname, (tok, n) in vocabularies.items():
        for lname in args.libraries.split(","):
            print(f"{vname} / {lname} ...", file=sys.stderr)
            try:
                report[f"{vname} / {lname}"] = measure(libraries[lname], tok, n, eos)
            except ImportError as e:
                print(f"  skipped: {e}", file=sys.stderr)
    for key, r in report.items():
        print(f"\n## {key} (tokenizer setup {r['setup_s']:.2f} s)\n")
        print("| schema | compile ms | mask µs mean | mask µs max | valid ok | invalid refused |")
        print("| --- | ---: | ---: | ---: | --- | --- |")
        for name, row in r["schemas"].items():
            if "error" in row:
                print(f"| {name} | {row['error']} | | | | |")
                continue
            print(
                f"| {name} | {row['compile_ms']:.1f} | {row['mask_us_mean']:.0f} | "
                f"{row['mask_us_max']:.0f} | {row['valid_accepted']} | {row['invalid_refused']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Sampling, streaming, stop strings, cache reuse, threads and kernel selection."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from edge_reason import Engine


@pytest.fixture(scope="module")
def engine(model_dirs) -> Engine:
    return Engine.load(model_dirs["llama"], quant="int8", threads=2)


def test_seed_makes_sampling_reproducible(engine) -> None:
    kw = dict(max_new_tokens=20, temperature=1.2, top_k=50, top_p=0.9, seed=11)
    a = engine.generate("Where is Mary?", **kw)
    b = engine.generate("Where is Mary?", **kw)
    c = engine.generate("Where is Mary?", **{**kw, "seed": 12})
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids


def test_stream_never_splits_a_character(model_dirs) -> None:
    from edge_reason.text_stream import TextStream

    engine = Engine.load(model_dirs["qwen2"], quant="f32", threads=1)
    text = "東京 café über ünïcödé"
    ids = engine.encode(text)
    assert len(ids) > len(text) // 2, "the test needs characters split over several tokens"
    stream = TextStream(engine.tokenizer)
    pieces = [stream.push(i) for i in ids] + [stream.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_stream_pieces_join_to_the_full_decode(model_dirs) -> None:
    # Sampled continuations of a byte-level model split characters across
    # tokens (and emit some invalid bytes, which become U+FFFD): the streamed
    # text must equal decoding all tokens at once.
    engine = Engine.load(model_dirs["qwen2"], quant="f32", threads=1)
    for seed in range(5):
        kw = dict(max_new_tokens=40, temperature=1.5, seed=seed)
        pieces = list(engine.stream("東京 café", **kw))
        g = engine.generate("東京 café", **kw)
        ids = [t for t in g.token_ids if t not in engine.eos_token_ids]
        assert "".join(pieces) == g.text == engine.decode(ids)


def test_stop_strings_end_generation(engine) -> None:
    full = engine.generate("Mary moved to the", max_new_tokens=40)
    assert len(full.text) > 6
    stop = full.text[3:6]
    g = engine.generate("Mary moved to the", max_new_tokens=40, stop=[stop])
    assert g.finish_reason == "stop"
    assert g.text == full.text[: full.text.find(stop)]
    streamed = "".join(engine.stream("Mary moved to the", max_new_tokens=40, stop=stop))
    assert streamed == g.text


def test_eos_ends_generation(engine) -> None:
    # Force EOS: make token 0 (<eos>) the most likely by sampling at very low
    # temperature from a state whose logits favour it.
    state = engine.prefill([1, 2, 3])
    logits = state.logits.copy()
    logits[0] = logits.max() + 100.0
    forced = type(state)(state.token_ids, logits)
    g = engine.generate(forced, max_new_tokens=10)
    assert g.finish_reason == "eos" and g.token_ids == [0] and g.text == ""


def test_prompt_state_is_prefilled_once(engine) -> None:
    state = engine.prefill("Daniel picked up the football. Where is the football?")
    before = engine.tokens_evaluated
    outs = [engine.generate(state, max_new_tokens=8, temperature=1.0, seed=s) for s in range(4)]
    assert all(o.stats.prefilled_tokens == 0 for o in outs)
    # Only generated tokens ran (the last sampled token of each is never run).
    assert engine.tokens_evaluated - before == sum(len(o.token_ids) - 1 for o in outs)
    # And the result equals generating from the plain prompt.
    fresh = engine.generate(
        "Daniel picked up the football. Where is the football?",
        max_new_tokens=8,
        temperature=1.0,
        seed=2,
    )
    assert fresh.token_ids == outs[2].token_ids


def test_overwritten_state_is_rerun(engine) -> None:
    state = engine.prefill([4, 5, 6, 7])
    engine.generate([9, 9, 9], max_new_tokens=3)  # overwrites the cache
    g = engine.generate(state, max_new_tokens=3)
    assert g.stats.prefilled_tokens == 4
    assert g.token_ids == engine.generate([4, 5, 6, 7], max_new_tokens=3).token_ids


def test_a_state_reruns_only_what_the_cache_no_longer_shares(engine) -> None:
    branch = engine.prefill([4, 5, 6, 7, 8])
    engine.prefill([4, 5, 9, 9])  # same first two tokens, then another branch
    g = engine.generate(branch, max_new_tokens=3)
    assert g.stats.prefilled_tokens == 3  # 6, 7, 8
    assert g.token_ids == engine.generate([4, 5, 6, 7, 8], max_new_tokens=3).token_ids
    engine.prefill([4, 5, 6, 7, 8, 9])  # holds the whole state and more
    assert engine.generate(branch, max_new_tokens=3).stats.prefilled_tokens == 0


def test_prefill_after_a_prefix_runs_only_what_the_cache_lacks(engine) -> None:
    root = engine.prefill([4, 5])
    engine.prefill([6, 7, 8], prefix=root)  # the cache holds 4 5 6 7 8
    before = engine.tokens_evaluated
    branch = engine.prefill([6, 7, 9], prefix=root)
    assert engine.tokens_evaluated - before == 1  # 9 alone
    assert branch.token_ids == (4, 5, 6, 7, 9)
    np.testing.assert_allclose(
        branch.logits, engine.logits([4, 5, 6, 7, 9])[-1], rtol=1e-5, atol=1e-5
    )


def test_prefill_extends_a_prefix(engine) -> None:
    head = engine.prefill([10, 11, 12])
    both = engine.prefill([13, 14], prefix=head)
    assert both.token_ids == (10, 11, 12, 13, 14)
    np.testing.assert_allclose(
        both.logits, engine.logits([10, 11, 12, 13, 14])[-1], rtol=1e-5, atol=1e-5
    )


def test_two_python_threads_share_one_engine(engine) -> None:
    want = {
        s: engine.generate("Where is", max_new_tokens=12, temperature=1.0, seed=s).token_ids
        for s in range(6)
    }
    got: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(seeds: range) -> None:
        try:
            for s in seeds:
                got[s] = engine.generate(
                    "Where is", max_new_tokens=12, temperature=1.0, seed=s
                ).token_ids
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(range(i, 6, 2),)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == want


def test_reentry_from_an_open_stream_is_refused(engine) -> None:
    stream = engine.stream("Where is", max_new_tokens=5)
    next(stream)
    with pytest.raises(RuntimeError, match="already busy in this thread"):
        engine.generate("x", max_new_tokens=1)
    stream.close()
    assert engine.generate("x", max_new_tokens=1).stats.generated_tokens == 1


def test_info_fields(engine) -> None:
    info = engine.info()
    for key in ("kernel", "threads", "quant", "weight_bytes", "max_context", "architecture"):
        assert key in info
    assert info["quant"] == "int8" and info["threads"] == 2
    assert info["architecture"] == "LlamaForCausalLM"


def run_with_kernel(folder, kernel: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from edge_reason import Engine; "
        f"e = Engine.load({str(folder)!r}, quant='int4'); print(e.info()['kernel'])"
    )
    env = {**os.environ, "EDGE_REASON_KERNEL": kernel}
    # From a neutral folder, so the source tree does not shadow the installed package.
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=folder
    )


def test_kernel_can_be_forced_and_unknown_names_are_refused(model_dirs) -> None:
    forced = run_with_kernel(model_dirs["llama"], "scalar")
    assert forced.returncode == 0 and forced.stdout.strip() == "scalar"
    bad = run_with_kernel(model_dirs["llama"], "sse9000")
    assert bad.returncode != 0
    assert "unknown kernel variant 'sse9000'" in bad.stderr


def test_time_limit_cuts_generation(engine) -> None:
    state = engine.prefill([1, 2, 3])
    logits = state.logits.copy()
    logits[5] = logits.max() + 100.0  # the first token is 5, not end-of-sequence
    forced = type(state)(state.token_ids, logits)
    g = engine.generate(forced, max_new_tokens=200, time_limit_s=1e-6)
    assert g.finish_reason == "time" and g.token_ids == [5]
    with pytest.raises(ValueError, match="time_limit_s must be positive"):
        engine.generate([1], time_limit_s=0)

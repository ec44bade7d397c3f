"""Inputs built to break the runtime get a named error, never a crash, a hang or
silent garbage: sizes that overflow 32 bits, thread counts the OS cannot start, FIFOs
where files belong, NaN in weights, and sampling parameters at the edge of float."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_reason import Engine, ModelFormatError, _native


def finishes(fn, seconds: float = 60.0):
    """fn's result or exception, or a failure if it blocks (a FIFO open would)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            outcome["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def native_config(**changes: object) -> dict[str, object]:
    cfg: dict[str, object] = dict(
        dim=64, ffn_dim=96, layers=1, heads=4, kv_heads=2, head_dim=16, vocab=100,
        norm_eps=1e-5, sliding_window=0, max_context=32, max_batch=8,
    )  # fmt: skip
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"heads": 67108867, "head_dim": 64}, r"heads is 67108867; it must be between 1 and 1024"),
        ({"head_dim": 1 << 22}, r"head_dim is 4194304"),
        ({"dim": 1 << 31}, r"field 'dim' is 2147483648; it must be between 1 and"),
        ({"dim": 2**80}, r"field 'dim' is 1208925819614629174706176"),
        ({"vocab": "100"}, r"field 'vocab' must be an integer"),
        ({"max_context": 1 << 24, "heads": 1024, "kv_heads": 1024}, r"max_context x heads"),
        ({"norm_eps": float("nan")}, r"norm_eps must be finite and positive"),
    ],
)
def test_native_config_is_checked_before_any_allocation(changes, message) -> None:
    with pytest.raises(ValueError, match="model config: .*" + message):
        _native.ModelConfig(**native_config(**changes))


def test_thread_counts_are_bounded(model_dirs) -> None:
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 256, got 10000"):
        Engine.load(model_dirs["llama"], threads=10000)


@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer reserves terabytes of address space: no RLIMIT_AS can apply",
)
def test_threads_the_os_cannot_start_give_an_error_not_a_hang(model_dirs, tmp_path) -> None:
    # Under an address-space limit, thread stacks run out after a few workers: the pool
    # stops those it started and raises (it used to wait for them forever).
    script = textwrap.dedent(
        f"""
        import resource
        from edge_reason import Engine
        Engine.load({str(model_dirs["llama"])!r}, threads=1)
        with open("/proc/self/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, ((kb + 64 * 1024) * 1024,) * 2)
        try:
            Engine.load({str(model_dirs["llama"])!r}, threads=200)
        except RuntimeError as e:
            print("refused:", e)
        """
    )
    # not from the checkout: python -c would import its edge_reason/ before the installed one
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "refused: cannot start the engine: cannot start worker thread" in done.stdout


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_fifo_where_a_model_file_belongs(model_dirs, tmp_path, name) -> None:
    folder = Path(shutil.copytree(model_dirs["llama"], tmp_path / "m"))
    (folder / name).unlink()
    os.mkfifo(folder / name)
    with pytest.raises(ModelFormatError, match=rf"{name}: not a regular file \(a FIFO\)"):
        finishes(lambda: Engine.load(folder))


def test_a_fifo_where_the_tokenizer_belongs(model_dirs, tmp_path) -> None:
    folder = Path(shutil.copytree(model_dirs["llama"], tmp_path / "m"))
    (folder / "tokenizer.json").unlink()
    os.mkfifo(folder / "tokenizer.json")
    engine = Engine.load(folder, threads=1)
    with pytest.raises(ModelFormatError, match=r"tokenizer\.json: not a regular file"):
        finishes(lambda: engine.encode("hello"))


def set_first_float(folder: Path, tensor: str, value: float) -> None:
    (path,) = folder.glob("*.safetensors")
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    entry = json.loads(data[8 : 8 + n])[tensor]
    struct.pack_into("<f", data, 8 + n + entry["data_offsets"][0], value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_norm_is_named(model_dirs, tmp_path, value) -> None:
    folder = Path(shutil.copytree(model_dirs["llama"], tmp_path / "m"))
    set_first_float(folder, "model.layers.1.post_attention_layernorm.weight", value)
    with pytest.raises(ValueError, match=r"layers\.1\.ffn_norm: element 0 is not finite"):
        Engine.load(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weight_is_named(model_dirs, tmp_path, value) -> None:
    folder = Path(shutil.copytree(model_dirs["llama"], tmp_path / "m"))
    set_first_float(folder, "model.layers.0.mlp.up_proj.weight", value)
    with pytest.raises(ValueError, match=r"up_proj\.weight"):
        Engine.load(folder, quant="int8")


@pytest.fixture(scope="module")
def engine(model_dirs) -> Engine:
    return Engine.load(model_dirs["qwen3"], quant="int8", threads=1, max_context=64)


@pytest.mark.parametrize("temperature", [1e-45, 1e-40, 5e-38, 1e-30])
def test_tiny_temperature_is_greedy(engine, temperature) -> None:
    prompt = [5, 17, 33, 2, 90]
    greedy = engine.generate(prompt, max_new_tokens=6).token_ids
    sampled = engine.generate(prompt, max_new_tokens=6, temperature=temperature, seed=3)
    assert sampled.token_ids == greedy


def test_sampler_survives_non_finite_logits() -> None:
    sampler = _native.Sampler(5)
    history = np.array([], dtype=np.int32)
    for logits in ([np.nan, 1, 2, 3, 4], [1, np.inf, 2, -np.inf, 0], [-np.inf] * 5):
        token = sampler.sample(np.array(logits, dtype=np.float32), 0.7, 0, 0.9, 1.0, history)
        assert 0 <= token < 5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"temperature": float("inf")}, "temperature must be a finite number >= 0, got inf"),
        ({"temperature": float("nan")}, "temperature must be a finite number >= 0, got nan"),
        ({"temperature": "0.5"}, "temperature must be a finite number"),
        ({"repetition_penalty": float("inf")}, "repetition_penalty must be a finite number"),
        ({"top_p": float("nan")}, r"top_p must be in \(0, 1\]"),
    ],
)
def test_sampling_arguments_at_the_edges(engine, arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        engine.generate([1, 2, 3], max_new_tokens=2, **arguments)


def test_bytes_prompt_is_not_token_ids(engine) -> None:
    with pytest.raises(TypeError, match="the prompt is bytes: decode it to a str"):
        engine.generate(b"hello", max_new_tokens=2)

"""`edge-reason bench --batch 1,2,4 --speculative prompt-lookup`: the native engine's rows
at each batch size (aggregate decode rate, roofline B x bandwidth / bytes per token) and
with prompt-lookup decoding, the other backends' skipped ones, the table, the plot and
bad option values."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_reason.bench import runner
from edge_reason.bench.adapters import EngineBackend
from edge_reason.bench.api import BenchRequest
from edge_reason.bench.prepare import ModelSource, Preparer
from edge_reason.bench.runner import Case, format_table
from edge_reason.bench.worker import prompt_ids
from edge_reason.cli import main

QUICK = ["--threads", "1", "--repeats", "1", "--prompt-tokens", "16", "--gen-tokens", "4"]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_native_rows_at_each_batch_size_and_with_prompt_lookup(
    tiny_models: dict[str, Path],
) -> None:
    args = ["bench", str(tiny_models["qwen2"]), "--backends", "native", "--quant", "int4"]
    args += [*QUICK, "--batch", "4,2,1,2", "--speculative", "prompt-lookup", "--json", "-"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 2
    assert data["settings"]["batch"] == [1, 2, 4]
    assert data["settings"]["speculative"] == ["prompt-lookup"]
    rows = data["results"]
    assert [(r["batch"], r["speculative"]) for r in rows] == [
        (1, None),
        (2, None),
        (4, None),
        (1, "prompt-lookup"),
    ]
    for r in rows:
        assert r["backend"] == "native" and r["quant"] == "int4" and r["threads"] == 1
        assert 0 < r["decode_tps_min"] <= r["decode_tps"] <= r["decode_tps_max"]
        assert r["prefill_tps"] > 0 and r["peak_rss_mb"] > 0 and r["bytes_per_token"] > 0
        # one round: the roofline is B reads' worth of tokens at the bandwidth around it
        (before,), (after,) = r["read_bandwidth_gbs_rounds"], r["read_bandwidth_gbs_after_rounds"]
        per_read = (before + after) / 2 * 1e9 / r["bytes_per_token"]
        assert r["roofline_tps"] == pytest.approx(r["batch"] * per_read)
        assert r["roofline_fraction"] == pytest.approx(r["decode_tps"] / r["roofline_tps"])
    assert data["skipped"] == [] and data["failed"] == []

    stderr = result.stderr.splitlines()  # progress, then the table
    header, _rule, *lines = stderr[
        next(i for i, x in enumerate(stderr) if x.startswith("backend")) :
    ]
    assert header.split()[:5] == ["backend", "quant", "thr", "batch", "spec"]
    assert lines[0].split()[3:6] == ["1", "-", f"{rows[0]['prefill_tps']:.1f}"]
    assert lines[2].split()[3:5] == ["4", "-"]
    assert lines[3].split()[3:5] == ["1", "prompt-lookup"]
    assert "batch B: B prompts decoded together" in result.stderr
    assert "loaded native int4 x1 batch 4" in result.stderr
    assert "loaded native int4 x1 prompt-lookup" in result.stderr


def test_a_batch_decodes_every_prompt_as_a_lone_generation_does(
    tiny_models: dict[str, Path],
) -> None:
    backend = EngineBackend("native", str(tiny_models["llama"]), "int4", 1, 512)
    prompts = [prompt_ids(16, backend.vocab_size, shift=s) for s in range(4)]
    assert len({tuple(p) for p in prompts}) == 4  # distinct prompts
    prefill_s, decode_s, decoded = backend.run_batch(prompts, 6)
    assert prefill_s > 0 and decode_s > 0
    # greedy: each sequence decodes what it decodes alone, none counting its first token
    assert decoded == sum(backend.run(p, 6)[2] for p in prompts)
    alone = backend.run(prompts[0], 6, speculative="prompt-lookup")
    assert alone[2] == backend.run(prompts[0], 6)[2]


def test_shifted_prompts_differ_for_every_batch_size() -> None:
    for vocab in (320, 49152):
        prompts = {tuple(prompt_ids(16, vocab, shift=s)) for s in range(64)}
        assert len(prompts) == 64
    assert prompt_ids(8, 320) == prompt_ids(8, 320, shift=0)  # batch 1's prompt as before


def test_batch_sizes_and_prompt_lookup_are_native_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Preparer, "_model_path", lambda self, backend, quant, tflite: tmp_path)
    preparer = Preparer(ModelSource(hf_dir=tmp_path), tmp_path, 512, lambda _m: None)
    cases, skipped = preparer.plan(
        ["native", "llama.cpp"], ["int4"], [1, 2], [1, 2, 8], "prompt-lookup"
    )
    labels = [c.label for c in cases]
    assert labels == [
        "native int4 x1",
        "native int4 x1 batch 2",
        "native int4 x1 batch 8",
        "native int4 x1 prompt-lookup",
        "native int4 x2",
        "native int4 x2 batch 2",
        "native int4 x2 batch 8",
        "native int4 x2 prompt-lookup",
        "llama.cpp int4 x1",
        "llama.cpp int4 x2",
    ]
    assert [(s.label, s.reason) for s in skipped] == [
        ("llama.cpp int4 batch 2,8", "batched decode is native only"),
        ("llama.cpp int4 prompt-lookup", "speculative decoding is native only"),
    ]
    # batch 1 alone, without speculative: the cases as before, nothing skipped
    cases, skipped = preparer.plan(["native", "llama.cpp"], ["int4"], [1])
    assert [c.label for c in cases] == ["native int4 x1", "llama.cpp int4 x1"] and not skipped


class ScriptedWorker:
    """Decodes 4 tokens/s in the warm-up round, 8 in the next; records what it was asked."""

    asked: list[dict[str, object]] = []

    def __init__(self, case: Case, max_context: int) -> None:
        self.case, self.load, self.rounds = case, {"cold_start_s": 0.1, "load_s": 0.1}, 0

    def ask(self, cmd: str, **request: object) -> dict[str, float]:
        if cmd == "stats":
            return {"bytes_per_token": 1e9, "peak_rss_mb": 1.0}
        ScriptedWorker.asked.append(request)
        self.rounds += 1
        return {"decode_tps": 4.0 * self.rounds, "prefill_tps": 1.0}

    def close(self) -> None:
        pass


def test_a_batch_row_is_held_against_b_reads_of_the_weights_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ScriptedWorker.asked = []
    monkeypatch.setattr(runner, "Worker", ScriptedWorker)
    monkeypatch.setattr(runner, "measure_bandwidth", lambda _threads: 10e9)
    cases = [Case("native", "int4", 1, "m"), Case("native", "int4", 1, "m", batch=4)]
    cases.append(Case("native", "int4", 1, "m", speculative="prompt-lookup"))
    one, four, lookup = runner.run_cases(cases, repeats=1)["results"]
    assert {(a["batch"], a["speculative"]) for a in ScriptedWorker.asked} == {
        (1, None),
        (4, None),
        (1, "prompt-lookup"),
    }
    # 8 tokens/s of 1 GB each at 10 GB/s: 10 tokens/s at one token per read, 40 at four
    assert (one["batch"], one["roofline_tps"], one["roofline_fraction"]) == (1, 10.0, 0.8)
    assert (four["batch"], four["roofline_tps"], four["roofline_fraction"]) == (4, 40.0, 0.2)
    assert (lookup["speculative"], lookup["roofline_tps"]) == ("prompt-lookup", 10.0)


def _row(batch: int, decode: float, speculative: str | None = None) -> dict:
    return {
        "backend": "native",
        "quant": "int4",
        "threads": 2,
        "batch": batch,
        "speculative": speculative,
        "prefill_tps": 500.0,
        "decode_tps": decode,
        "decode_tps_min": 0.9 * decode,
        "decode_tps_max": 1.1 * decode,
        "decode_tps_rounds": [0.9 * decode, 1.1 * decode],
        "cold_start_s": 0.5,
        "load_s": 0.4,
        "peak_rss_mb": 100.0,
        "bytes_per_token": 76e6,
        "roofline_tps": batch * 460.0,
        "roofline_fraction": decode / (batch * 460.0),
        "roofline_steady_rounds": 2,
    }


def _report(rows: list[dict]) -> dict:
    machine = {"cpu": "test CPU", "read_bandwidth_gbs": {"2": 35.0}, "power_sensor": None}
    settings = {"prompt_tokens": 16, "gen_tokens": 4, "repeats": 2, "batch": [1, 2, 4, 8]}
    return {"schema": 2, "machine": machine, "settings": settings, "results": rows}


BATCH_ROWS = [
    _row(1, 200.0),
    _row(2, 380.0),
    _row(4, 640.0),
    _row(8, 1000.0),
    _row(1, 190.0, "prompt-lookup"),
]


def test_table_has_batch_and_spec_columns_with_ratios_to_native_batch_1() -> None:
    header, _rule, *lines = format_table(_report(BATCH_ROWS)).splitlines()
    assert header.split()[3:5] == ["batch", "spec"]
    cells = [line.split() for line in lines[:5]]
    assert [c[3:5] for c in cells] == [["1", "-"], ["2", "-"], ["4", "-"], ["8", "-"]] + [
        ["1", "prompt-lookup"]
    ]
    ratios = [next(x for x in c if x.endswith("x") and x[0].isdigit()) for c in cells]
    assert ratios == ["1.00x", "1.90x", "3.20x", "5.00x", "0.95x"]
    assert cells[3][9:11] == ["27%", "(2/2)"]  # 1000 tokens/s of 8 x 460
    assert lines[5].startswith("read bandwidth") and lines[6].startswith("batch B:")


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="--plot needs matplotlib (the [bench] extra)")
def test_plot_adds_a_batch_panel_when_several_batch_sizes_were_measured(tmp_path: Path) -> None:
    import matplotlib.image

    from edge_reason.bench.plot import plot_report

    plot_report(_report(BATCH_ROWS), tmp_path / "batch.png")
    plot_report(_report([BATCH_ROWS[0], BATCH_ROWS[4]]), tmp_path / "single.png")
    batch, single = (matplotlib.image.imread(tmp_path / n) for n in ("batch.png", "single.png"))
    assert batch.shape[0] > 1.3 * single.shape[0]  # a third panel below the two
    # in the lower third, int4's colour (#1b7837) spans the panel: the line and its roofline
    lower = batch[2 * batch.shape[0] // 3 :, :, :3]
    int4 = (abs(lower - [0x1B / 255, 0x78 / 255, 0x37 / 255]) < 0.05).all(axis=2)
    columns = int4.any(axis=0).nonzero()[0]
    assert columns.max() - columns.min() > 0.6 * batch.shape[1]


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="--plot needs matplotlib (the [bench] extra)")
def test_bench_plot_with_batches_writes_the_png(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "bench.png"
    args = ["bench", str(tiny_models["llama"]), "--backends", "native", "--quant", "int8"]
    result = CliRunner().invoke(main, [*args, *QUICK, "--batch", "1,2", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("value", ["0", "65", "1,two", "", "2,-4", "1.5"])
def test_bad_batch_sizes_are_refused_in_one_line_naming_the_option(
    tiny_models: dict[str, Path], value: str
) -> None:
    result = CliRunner().invoke(main, ["bench", str(tiny_models["qwen2"]), "--batch", value])
    assert result.exit_code == 2
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "'--batch'" in error and "expected positive integers up to 64 like 1,2,4,8" in error


def test_speculative_takes_prompt_lookup_only(tiny_models: dict[str, Path]) -> None:
    args = ["bench", str(tiny_models["qwen2"]), "--speculative", "medusa"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Invalid value for '--speculative'" in result.output
    assert "'prompt-lookup'" in result.output


def test_the_api_refuses_what_the_options_refuse() -> None:
    with pytest.raises(ValueError, match="batch sizes must be integers from 1 to 64, got"):
        BenchRequest(shape="smollm2-135m", batch=[1, 128])
    with pytest.raises(ValueError, match="speculative must be one of prompt-lookup"):
        BenchRequest(shape="smollm2-135m", speculative="medusa")
    assert BenchRequest(shape="smollm2-135m", batch=[8, 2, 8]).batches == [1, 2, 8]


def test_roofline_fraction_median_is_per_round(monkeypatch: pytest.MonkeyPatch) -> None:
    # two rounds at 20 then 10 GB/s: batch 2 decodes 8 then 12 tokens/s of 1 GB each
    measured = iter([20e9, 20e9, 10e9, 10e9])
    ScriptedWorker.asked = []
    monkeypatch.setattr(runner, "Worker", ScriptedWorker)
    monkeypatch.setattr(runner, "measure_bandwidth", lambda _threads: next(measured))
    (r,) = runner.run_cases([Case("native", "int4", 1, "m", batch=2)], repeats=2)["results"]
    assert r["roofline_fraction"] == pytest.approx(statistics.median([8 / 40, 12 / 20]))
    assert r["roofline_tps"] == pytest.approx(2 * statistics.median([20, 10]))


def test_a_batch_case_that_fails_to_load_is_named_with_its_batch(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.Worker

    def worker(case: Case, max_context: int) -> object:
        if case.batch > 1:
            raise RuntimeError("no memory for the batch")
        return real(case, max_context)

    monkeypatch.setattr(runner, "Worker", worker)
    args = ["bench", str(tiny_models["qwen2"]), "--backends", "native", "--quant", "int4"]
    result = CliRunner().invoke(main, [*args, *QUICK, "--batch", "1,4"])
    assert result.exit_code == 0, result.output
    assert "failed native int4 x1 batch 4: no memory for the batch" in result.stdout
    assert "could not load native int4 x1 batch 4" in result.stderr

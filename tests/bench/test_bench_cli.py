"""`edge-reason bench` on a tiny model: the report (schema 2), the plot, skipped backends,
bad input, batch and speculative rows; and the pieces it is made of (torch baseline, plot,
table)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.cli_process import THIRD_PARTY_CHATTER, run_cli

from edge_reason.bench import prepare, runner
from edge_reason.bench.runner import Case, format_table
from edge_reason.cli import main

RESULT_FIELDS = {
    "backend",
    "quant",
    "threads",
    "batch",
    "speculative",
    "prefill_tps",
    "decode_tps",
    "decode_tps_min",
    "decode_tps_max",
    "cold_start_s",
    "peak_rss_mb",
    "roofline_fraction",
}
QUICK = ["--threads", "1", "--repeats", "1", "--prompt-tokens", "16", "--gen-tokens", "4"]
HAS_LLAMA_CPP = all(importlib.util.find_spec(m) for m in ("llama_cpp", "gguf"))
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def report(rows: list[dict], sensor: str | None = None) -> dict:
    """A report as schema 1 had it (rows without batch or speculative read as batch 1)."""
    return {
        "schema": 1,
        "machine": {"cpu": "test CPU", "read_bandwidth_gbs": {"1": 20.0}, "power_sensor": sensor},
        "settings": {"prompt_tokens": 16, "gen_tokens": 4, "repeats": 1},
        "results": rows,
    }


def row(backend: str, quant: str, decode: float, **extra: float) -> dict:
    return {
        "backend": backend,
        "quant": quant,
        "threads": 1,
        "prefill_tps": 10 * decode,
        "decode_tps": decode,
        "decode_tps_min": decode - 1,
        "decode_tps_max": decode + 1,
        "decode_tps_rounds": [decode - 1, decode, decode + 1],
        "cold_start_s": 0.5,
        "load_s": 0.4,
        "peak_rss_mb": 100.0,
        "roofline_fraction": 0.5,
        "roofline_steady_rounds": 2,
        "roofline_tps": 2 * decode,
        **extra,
    }


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="--plot needs matplotlib (the [bench] extra)")
def test_bench_writes_a_report_and_a_plot_and_lists_what_it_skipped(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # onnxruntime stands for a runtime that is not installed
    monkeypatch.setitem(
        prepare.RUNTIMES, "onnxruntime", ([("no_such_runtime_module",)], "pip install it")
    )
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    args = ["bench", str(tiny_models["qwen2"]), "--backends", "native,llama.cpp,torch,onnxruntime"]
    args += ["--quant", "int4", *QUICK, "--json", str(out_json), "--plot", str(out_png)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output

    data = json.loads(out_json.read_text())
    assert data["schema"] == 2 and data["machine"]["read_bandwidth_gbs"]["1"] > 0
    assert data["settings"]["batch"] == [1] and data["settings"]["speculative"] == []
    bandwidth = [data["machine"][f"read_bandwidth_gbs{k}"]["1"] for k in ("_min", "", "_max")]
    assert bandwidth == sorted(bandwidth)
    measured = {r["backend"] for r in data["results"]}
    assert measured == ({"native", "llama.cpp"} if HAS_LLAMA_CPP else {"native"})
    for r in data["results"]:
        assert RESULT_FIELDS <= r.keys()
        assert r["quant"] == "int4" and r["threads"] == 1
        assert r["batch"] == 1 and r["speculative"] is None
        assert 0 < r["decode_tps_min"] <= r["decode_tps"] <= r["decode_tps_max"]
        assert r["prefill_tps"] > 0 and r["cold_start_s"] > 0 and r["peak_rss_mb"] > 0
        assert 0 < r["roofline_fraction"]
    skipped = {(s["backend"], s["quant"]): s["reason"] for s in data["skipped"]}
    assert "no int4" in skipped["torch", "int4"]
    assert "needs no_such_runtime_module, not installed here" in skipped["onnxruntime", "int4"]
    assert ("llama.cpp", "int4") in skipped or HAS_LLAMA_CPP
    assert data["failed"] == []

    assert "energy: no power sensors found" in result.stdout
    assert "skipped torch int4: torch eager has f32 and dynamic int8" in result.stdout
    assert "loaded native int4 x1" in result.stderr  # progress goes to stderr
    assert "measuring" in result.stderr and "round 0/" not in result.stderr  # a bar, not lines
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_drawn_across(out_png)


def assert_drawn_across(png: Path) -> None:
    """The lower panel reaches the right-hand tenth of the image (a legend beside the
    panels once took a third of its width and left the space below it blank)."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3]
    lower = pixels[pixels.shape[0] // 2 :]
    drawn_columns = (lower < 0.95).any(axis=(0, 2)).nonzero()[0]
    assert drawn_columns.max() > 0.9 * pixels.shape[1]


class ScriptedWorker:
    """A worker whose decode rate is scripted per round (2 tokens/s, then 4, ...)."""

    def __init__(self, case: Case, max_context: int) -> None:
        self.case, self.load, self.rounds = case, {"cold_start_s": 0.1, "load_s": 0.1}, 0

    def ask(self, cmd: str, **_request: object) -> dict[str, float]:
        if cmd == "stats":
            return {"bytes_per_token": 1e9, "peak_rss_mb": 1.0}
        self.rounds += 1
        return {"decode_tps": 2.0 * self.rounds, "prefill_tps": 1.0}

    def close(self) -> None:
        pass


def _scripted_bandwidth(monkeypatch: pytest.MonkeyPatch, gbs: list[float]) -> list[int]:
    """Bandwidth measurements return `gbs` in turn; the thread counts asked are recorded."""
    measured = iter(g * 1e9 for g in gbs)
    calls: list[int] = []

    def bandwidth(threads: int) -> float:
        calls.append(threads)
        return next(measured)

    monkeypatch.setattr(runner, "Worker", ScriptedWorker)
    monkeypatch.setattr(runner, "measure_bandwidth", bandwidth)
    return calls


def test_each_decode_is_held_against_the_bandwidth_around_it_in_steady_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # before and after each decode, the two cases alternating, each round starting one case
    # further on (two-one, one-two, two-one); round 2 of the first case and round 3 of the
    # second change state during the decode
    calls = _scripted_bandwidth(monkeypatch, [20, 20, 10, 10, 10, 40, 20, 20, 40, 20, 10, 10])
    cases = [Case("native", "int4", 1, "model"), Case("native", "int8", 2, "model")]
    report = runner.run_cases(cases, repeats=3)
    assert calls == [2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1]  # around every decode, at its threads
    one, two = report["results"]
    # rounds 1-3 decode 4, 6, 8 tokens/s (round 0, 2 tokens/s, warms up) of 1 GB each
    assert one["decode_tps_rounds"] == two["decode_tps_rounds"] == [4.0, 6.0, 8.0]
    assert one["read_bandwidth_gbs_rounds"] == [10.0, 10.0, 10.0]
    assert one["read_bandwidth_gbs_after_rounds"] == [10.0, 40.0, 10.0]
    assert two["read_bandwidth_gbs_rounds"] == [20.0, 20.0, 40.0]
    assert two["read_bandwidth_gbs_after_rounds"] == [20.0, 20.0, 20.0]
    assert one["roofline_fraction"] == pytest.approx(0.6)  # median of 4/10, 8/10
    assert one["roofline_steady_rounds"] == 2
    assert two["roofline_fraction"] == pytest.approx(0.25)  # median of 4/20, 6/20
    assert two["roofline_steady_rounds"] == 2
    machine = report["machine"]
    assert machine["read_bandwidth_gbs_rounds"] == {
        "1": [10.0, 10.0, 10.0, 40.0, 10.0, 10.0],
        "2": [20.0, 20.0, 20.0, 20.0, 40.0, 20.0],
    }
    assert machine["read_bandwidth_gbs_min"] == {"1": 10.0, "2": 20.0}
    assert machine["read_bandwidth_gbs_max"] == {"1": 40.0, "2": 40.0}


def test_without_a_steady_round_every_round_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted_bandwidth(monkeypatch, [4, 8, 16, 32, 64, 128])  # doubles every time
    (result,) = runner.run_cases([Case("native", "int4", 1, "model")], repeats=3)["results"]
    assert result["roofline_steady_rounds"] == 0
    assert result["roofline_fraction"] == pytest.approx(6 / 24)  # median of 4/6, 6/24, 8/96


def test_run_cases_refuses_zero_repeats_before_starting_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "Worker", ScriptedWorker)
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        runner.run_cases([Case("native", "int4", 1, "model")], repeats=0)


def test_json_dash_prints_only_the_report_on_stdout(tiny_models: dict[str, Path]) -> None:
    args = ["bench", str(tiny_models["llama"]), "--backends", "native", "--quant", "int8"]
    result = CliRunner().invoke(main, [*args, *QUICK, "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(r["backend"], r["quant"]) for r in data["results"]] == [("native", "int8")]
    assert data["model"] == str(tiny_models["llama"]) and data["skipped"] == []
    assert "decode t/s" in result.stderr  # the table moved to stderr


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="needs llama-cpp-python and gguf")
def test_a_gguf_file_runs_as_it_is_in_both_engines(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from edge_reason.export.gguf_export import write_gguf

    gguf = write_gguf(tiny_models["qwen2"], tmp_path / "model.gguf", "q8_0").path
    args = ["bench", str(gguf), "--backends", "native,llama.cpp,onnxruntime"]
    result = CliRunner().invoke(main, [*args, "--quant", "file,int4", *QUICK, "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == str(gguf)
    measured = [(r["backend"], r["quant"]) for r in data["results"]]
    assert sorted(measured) == [("llama.cpp", "file"), ("native", "file"), ("native", "int4")]
    assert all(r["decode_tps"] > 0 and r["prefill_tps"] > 0 for r in data["results"])
    assert all(r["peak_rss_mb"] > 0 and r["cold_start_s"] > 0 for r in data["results"])
    skipped = {(s["backend"], s["quant"]): s["reason"] for s in data["skipped"]}
    assert "runs the GGUF file as it is" in skipped["llama.cpp", "int4"]
    assert "edge-reason export model.gguf OUT" in skipped["onnxruntime", "file"]
    # no bundle or converted file is made for a GGUF source
    assert not (Path(os.environ["EDGE_REASON_CACHE"]) / "bench").exists()

    default = CliRunner().invoke(main, [*args[:2], "--backends", "native", *QUICK, "--json", "-"])
    assert default.exit_code == 0, default.output
    assert [r["quant"] for r in json.loads(default.stdout)["results"]] == ["file"]


def test_a_file_that_is_not_gguf_and_quant_file_on_a_folder_are_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    text = tmp_path / "model.gguf"
    text.write_text("hello\n")
    result = CliRunner().invoke(main, ["bench", str(text)])
    assert result.exit_code == 1 and "not a GGUF file" in result.output
    args = ["bench", str(tiny_models["qwen2"]), "--backends", "native", "--quant", "file"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "is not a GGUF file" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backends", "native,mlc"], "expected a comma-separated list of native"),
        (["--quant", "int3"], "expected a comma-separated list of f32, int8, int4, file"),
        (["--threads", "0,2"], "expected positive integers"),
        (["--shape", "gpt-5"], "known shapes are qwen2.5-0.5b, smollm2-135m"),
    ],
)
def test_bad_options_are_refused_by_name(
    tiny_models: dict[str, Path], args: list[str], message: str
) -> None:
    model = [] if "--shape" in args else [str(tiny_models["qwen2"])]
    result = CliRunner().invoke(main, ["bench", *model, *args])
    assert result.exit_code == 2 and message in result.output


def test_model_and_shape_together_or_neither_is_an_error(tiny_models: dict[str, Path]) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["bench", str(tiny_models["qwen2"]), "--shape", "smollm2-135m"])
    neither = runner.invoke(main, ["bench"])
    for result in (both, neither):
        assert result.exit_code == 1
        assert "or a GGUF file) or a --shape, not both" in result.output


def test_nothing_to_measure_says_why(tiny_models: dict[str, Path]) -> None:
    args = ["bench", str(tiny_models["qwen2"]), "--backends", "tflite", "--quant", "int4"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    # Why depends on the machine: the runtime may be missing, else int4 is not a TFLite form.
    assert "nothing to measure (tflite int4: " in result.output
    assert (
        "the TFLite export stores int8" in result.output
        or "needs ai_edge_litert or tflite_runtime" in result.output
    )


def test_plot_without_matplotlib_fails_before_measuring(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    args = ["bench", str(tiny_models["qwen2"]), "--plot", str(tmp_path / "p.png")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "pip install 'edge-reason[bench]'" in result.output
    assert "read bandwidth measured" not in result.output


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="plots need matplotlib (the [bench] extra)")
def test_plot_draws_every_backend_and_refuses_an_empty_report(tmp_path: Path) -> None:
    from edge_reason.bench.plot import plot_report

    rows = [row("native", "int4", 50), row("llama.cpp", "int4", 40), row("native", "int8", 30)]
    plot_report(report(rows), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no results"):
        plot_report(report([]), tmp_path / "empty.png")


def test_table_gives_ratios_to_native_and_energy_when_a_sensor_was_read() -> None:
    rows = [
        row("native", "int4", 50, decode_j_per_token=0.2),
        row("llama.cpp", "int4", 40, decode_j_per_token=None),
    ]
    table = format_table(report(rows, sensor="INA3221 (VDD_IN)"))
    lines = table.splitlines()
    assert "J/token" in lines[0]
    assert "0.80x" in lines[3] and lines[2].rstrip().endswith("0.200")
    assert "50% (2/3)" in lines[2]  # the roofline and the steady rounds it stands on
    assert lines[3].rstrip().endswith("-")
    assert "energy: INA3221 (VDD_IN)" in table


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers")),
    reason="the torch baseline needs torch and transformers",
)
def test_torch_baseline_runs_f32_and_dynamic_int8(tiny_models: dict[str, Path]) -> None:
    from edge_reason.bench.torch_backend import TorchBackend

    f32 = TorchBackend(tiny_models["qwen2"], "f32", threads=1)
    int8 = TorchBackend(tiny_models["qwen2"], "int8", threads=1)
    for backend in (f32, int8):
        prefill_s, decode_s, decoded = backend.run(list(range(10, 26)), 4)
        assert prefill_s > 0 and decode_s > 0 and decoded == 4
    # 64x(64+16+16+64) + 3x64x136 + 320x64 weights (tied head counted once)
    assert f32.bytes_per_token == 4 * 2 * (64 * 160 + 3 * 64 * 136) + 4 * 320 * 64
    assert int8.bytes_per_token == f32.bytes_per_token // 4
    with pytest.raises(ValueError, match="torch eager runs quant f32 or int8, not 'int4'"):
        TorchBackend(tiny_models["qwen2"], "int4", threads=1)


def test_machine_info_names_the_core_and_its_last_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    first = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
    cpuinfo.write_text(
        first + "model name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\nmodel\t\t: 99\n"
    )
    caches = tmp_path / "cache"
    for index, (level, size) in enumerate([(1, "32K"), (2, "1024K"), (3, "32768K")]):
        (caches / f"index{index}").mkdir(parents=True)
        (caches / f"index{index}" / "level").write_text(f"{level}\n")
        (caches / f"index{index}" / "size").write_text(f"{size}\n")
    monkeypatch.setattr(runner, "CPUINFO", cpuinfo)
    monkeypatch.setattr(runner, "CPU0_CACHES", caches)
    info = runner.machine_info()
    assert info["cpu"] == "AMD EPYC"
    assert info["cpu_id"] == {"cpu family": "25", "model": "17", "stepping": "1"}
    assert info["last_level_cache"] == "32768K"

    monkeypatch.setattr(runner, "CPUINFO", tmp_path / "missing")
    monkeypatch.setattr(runner, "CPU0_CACHES", tmp_path / "missing")
    info = runner.machine_info()
    assert "cpu_id" not in info and "last_level_cache" not in info


@pytest.mark.slow  # a benchmark in a fresh interpreter: about 25 s
def test_bench_prints_only_its_own_lines(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    backends = "native,torch"
    done = run_cli("bench", str(tiny_models["llama"]), "--backends", backends, *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not THIRD_PARTY_CHATTER.findall(done.stderr), done.stderr
    assert "decode" in done.stdout


def test_a_worker_runs_the_edge_reason_this_process_runs(tmp_path: Path) -> None:
    # a worker starts in the model's folder: from a checkout, the checkout's package must
    # still be the one it imports, not another copy installed on the machine
    import edge_reason

    where = "import edge_reason; print(edge_reason.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", where],
        cwd=tmp_path,
        env=runner.worker_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).resolve() == Path(edge_reason.__file__).resolve()

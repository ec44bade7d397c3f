from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from edge_reason.boards.detect import MemoryInfo, detect_hardware
from edge_reason.boards.doctor import DoctorReport, diagnose, run_doctor
from edge_reason.boards.profiles import load_profiles
from helpers.published_configs import TINYLLAMA

from edge_reason.cli import main


def native_not_built() -> str:
    raise ImportError("edge_reason._native")


@pytest.fixture
def doctor_on(fake_board: Callable) -> Callable[..., DoctorReport]:
    """doctor_on("pi4", ...) -> the report on a fixture board (options as run_doctor's)."""

    def run(board: str, **options: object) -> DoctorReport:
        fake = fake_board(board)
        options.setdefault("engine_kernel", native_not_built)
        options.setdefault("read_throttled", lambda: None)
        options.setdefault("environ", {})
        machine = "x86_64" if board == "x86" else "aarch64"
        return run_doctor(root=fake.root, machine=machine, hwcaps=fake.hwcaps, **options)

    return run


def test_pi4_report_predicts_neon_and_decodes_throttling(doctor_on: Callable) -> None:
    report = doctor_on("pi4", read_throttled=lambda: "throttled=0x50005\n")
    assert (report.board, report.cpu_model, report.cpu_features) == (
        "raspberry-pi-4",
        "Cortex-A72",
        ["neon"],
    )
    assert (report.kernel.selected, report.kernel.best) == ("neon", "neon")
    assert "native module is not built" in report.kernel.source
    assert (report.decode_threads, report.prefill_threads) == (3, 4)
    assert report.ram_available_mb == 3224
    assert report.warnings == [
        "throttling active: under-voltage detected, currently throttled",
        "under-voltage has occurred since boot: the power supply is too weak",
    ]


def test_a_hot_pi5_is_warned_about(doctor_on: Callable) -> None:
    report = doctor_on("pi5")
    assert report.kernel.selected == "neon_dotprod"
    assert report.warnings == ["cpu-thermal is at 82.5 °C: the CPU is about to throttle"]


def test_a_forced_kernel_slower_than_the_best_is_warned_about(doctor_on: Callable) -> None:
    report = doctor_on("jetson-orin-nano", environ={"EDGE_REASON_KERNEL": "neon"})
    assert (report.kernel.selected, report.kernel.best, report.kernel.forced) == (
        "neon",
        "neon_dotprod",
        "neon",
    )
    assert report.warnings == [
        "kernel neon is forced by EDGE_REASON_KERNEL, but this CPU can run the faster neon_dotprod"
    ]


def test_a_forced_kernel_the_cpu_lacks_means_the_engine_will_not_start(doctor_on: Callable) -> None:
    report = doctor_on("pi4", environ={"EDGE_REASON_KERNEL": "neon_dotprod"})
    assert report.kernel.selected is None
    assert "neon_dotprod is not a kernel this CPU can run" in report.warnings[0]


def test_the_engines_own_choice_is_reported_when_the_module_is_built(doctor_on: Callable) -> None:
    report = doctor_on("x86", engine_kernel=lambda: "scalar")
    assert (report.kernel.selected, report.kernel.source) == ("scalar", "engine")
    assert report.warnings == ["kernel scalar is selected, but this CPU can run the faster avx2"]

    def engine_refuses() -> str:
        raise RuntimeError("kernel variant 'avx512_vnni' is compiled in but this CPU cannot run it")

    report = doctor_on(
        "x86", engine_kernel=engine_refuses, environ={"EDGE_REASON_KERNEL": "avx512_vnni"}
    )
    assert report.kernel.selected is None
    assert "this CPU cannot run it: the engine will refuse to start" in report.warnings[0]


def test_a_model_too_large_for_free_ram_is_warned_about(
    tmp_path: Path, fake_board: Callable
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(TINYLLAMA))
    fake = fake_board("pi4")
    hardware = detect_hardware(fake.root, "aarch64", fake.hwcaps)
    arguments = dict(
        profiles=load_profiles(),
        thermal=[],
        throttling=None,
        engine_kernel=native_not_built,
        forced_kernel=None,
        model_dir=tmp_path,
    )
    roomy = diagnose(hardware, **arguments)
    # int4 weights (591 MiB: fp16 scales) plus a 2048-token f32 cache (88 MiB).
    assert (roomy.model.quant, roomy.model.context, roomy.model.need_mb) == ("int4", 2048, 679)
    assert roomy.model.fits_available_ram and roomy.warnings == []

    small = dataclasses.replace(hardware, memory=MemoryInfo(total_mb=1800, available_mb=600))
    tight = diagnose(small, **arguments)
    assert not tight.model.fits_available_ram
    assert tight.warnings == [
        "this board has 1800 MB of RAM but the raspberry-pi-4 profile assumes 4096 MB: "
        "its largest-model figures are too high here",
        f"model {tmp_path} needs 679 MB at int4 with a 2048-token context, "
        "but only 600 MB of RAM is free",
    ]


def test_doctor_cli_prints_one_json_document_or_a_table(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(TINYLLAMA))
    runner = CliRunner()
    as_json = runner.invoke(main, ["doctor", "--json", "--model", str(tmp_path)])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["model"]["params"] == 1_100_048_384
    assert report["kernel"]["best"] in {"scalar", "avx2", "avx512_vnni", "neon", "neon_dotprod"}
    table = runner.invoke(main, ["doctor"])
    assert table.exit_code == 0, table.output
    assert "RAM " in table.output and "best kernel" in table.output


def test_doctor_sizes_a_bundle_and_a_gguf_file_as_their_source(tmp_path: Path) -> None:
    from edge_reason.export.gguf_export import write_gguf
    from edge_reason.export.pipeline import ExportRequest, export_bundle
    from helpers.hf_models import build_model

    source = build_model(tmp_path / "hf", "llama", seed=0)
    bundle = tmp_path / "bundle"
    export_bundle(ExportRequest(source, bundle, "int4", "rtn", None))
    gguf = write_gguf(source, tmp_path / "model.gguf", "q8_0").path
    runner = CliRunner()
    params = []
    for model in (source, bundle, gguf):
        result = runner.invoke(main, ["doctor", "--json", "--model", str(model)])
        assert result.exit_code == 0, result.output
        params.append(json.loads(result.output)["model"]["params"])
    assert params[0] == params[1] == params[2]
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    result = runner.invoke(main, ["doctor", "--model", str(not_a_model)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and "notes.txt" in line

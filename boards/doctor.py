"""The `doctor` report: what this board is, what the engine will run on it, and what is wrong."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detect import Hardware, HwcapReader, detect_hardware, match_profile, read_hwcaps
from .kernels import best_kernel, is_slower, supported_kernels
from .memory import ModelShape, kv_cache_bytes, weight_bytes
from .profiles import BoardProfile, load_profiles
from .thermal import (
    ThermalZone,
    Throttling,
    decode_throttled,
    read_thermal_zones,
    run_vcgencmd_get_throttled,
)

# The Raspberry Pi 4 and 5 firmware starts throttling at 80 °C; Jetsons throttle
# later, so warning here is early for them, never late.
HOT_CELSIUS = 80.0
# Below this share of the profile's RAM the board is a smaller variant than the
# profile describes (the firmware and kernel always keep a little back).
RAM_VARIANT_SHARE = 0.75
# What a model is sized for when the board has no profile.
_FALLBACK_QUANT, _FALLBACK_CONTEXT, _FALLBACK_KV_CACHE = "int4", 2048, "f32"
_MIB = 1024 * 1024
KERNEL_ENV = "EDGE_REASON_KERNEL"


@dataclass(frozen=True)
class KernelReport:
    """The kernel variant the engine uses here and the fastest one the CPU could run."""

    selected: str | None  # None: the engine would refuse to start (see the warnings)
    best: str
    forced: str | None  # the EDGE_REASON_KERNEL value, if set
    source: str  # "engine", or why the choice was predicted instead


@dataclass(frozen=True)
class ModelReport:
    """Whether the model given to `doctor --model` fits in the RAM free right now."""

    path: str
    params: int
    quant: str
    context: int
    kv_cache: str
    need_mb: int
    fits_available_ram: bool


@dataclass(frozen=True)
class DoctorReport:
    """Everything `edge-reason doctor` shows."""

    board: str
    device_tree_model: str | None
    machine: str
    profile: str | None
    cpu_model: str | None
    cpu_features: list[str]
    cores: int
    kernel: KernelReport
    decode_threads: int
    prefill_threads: int
    ram_total_mb: int
    ram_available_mb: int
    thermal: list[ThermalZone]
    throttling: Throttling | None
    model: ModelReport | None
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return dataclasses.asdict(self)


def choose_kernel(
    features: frozenset[str], forced: str | None, engine_kernel: Callable[[], str]
) -> tuple[KernelReport, list[str]]:
    """Ask the engine which kernel it selects, or predict it when the native module is
    missing; also return the warnings the choice deserves."""
    best = best_kernel(features)
    warnings = []
    try:
        selected: str | None = engine_kernel()
        source = "engine"
    except ImportError:
        source = "predicted: the native module is not built, so this mirrors its dispatcher"
        if forced and forced not in supported_kernels(features):
            selected = None
            warnings.append(
                f"{KERNEL_ENV}={forced} is not a kernel this CPU can run (it can run: "
                f"{', '.join(supported_kernels(features))}): the engine will refuse to start"
            )
        else:
            selected = forced or best
    except RuntimeError as e:  # the dispatcher rejects a forced kernel it cannot run
        selected, source = None, "engine"
        warnings.append(f"{KERNEL_ENV}={forced}: {e}: the engine will refuse to start")
    if selected is not None and is_slower(selected, best):
        how = f"forced by {KERNEL_ENV}" if forced else "selected"
        warnings.append(f"kernel {selected} is {how}, but this CPU can run the faster {best}")
    return KernelReport(selected=selected, best=best, forced=forced, source=source), warnings


def check_model(
    model_dir: Path, profile: BoardProfile | None, available_mb: int
) -> tuple[ModelReport, list[str]]:
    """Size the model (a Hugging Face folder, a bundle or a GGUF file) at the board's
    default quantization and planning context."""
    shape = ModelShape.of(model_dir)
    quant = profile.default_quant if profile else _FALLBACK_QUANT
    kv_cache = profile.kv_cache if profile else _FALLBACK_KV_CACHE
    context = min(shape.max_context, profile.sizing.context if profile else _FALLBACK_CONTEXT)
    need = weight_bytes(shape.params, quant) + kv_cache_bytes(
        context, shape.layers, shape.kv_dim, kv_cache
    )
    need_mb = -(-need // _MIB)
    report = ModelReport(
        path=str(model_dir),
        params=shape.params,
        quant=quant,
        context=context,
        kv_cache=kv_cache,
        need_mb=need_mb,
        fits_available_ram=need_mb <= available_mb,
    )
    warnings = []
    if not report.fits_available_ram:
        warnings.append(
            f"model {model_dir} needs {need_mb} MB at {quant} with a {context}-token context, "
            f"but only {available_mb} MB of RAM is free"
        )
    return report, warnings


def _health_warnings(
    hardware: Hardware,
    profile: BoardProfile | None,
    thermal: list[ThermalZone],
    throttling: Throttling | None,
) -> list[str]:
    warnings = []
    if profile is None:
        what = hardware.device_tree_model or f"this {hardware.machine} machine"
        warnings.append(f"no board profile matches {what}: threads and sizes are not tuned")
    elif hardware.memory.total_mb < RAM_VARIANT_SHARE * profile.ram_mb:
        warnings.append(
            f"this board has {hardware.memory.total_mb} MB of RAM but the {profile.name} profile "
            f"assumes {profile.ram_mb} MB: its largest-model figures are too high here"
        )
    for zone in thermal:
        if zone.celsius >= HOT_CELSIUS:
            warnings.append(
                f"{zone.name} is at {zone.celsius:.1f} °C: the CPU is about to throttle"
            )
    if throttling is not None:
        if throttling.now:
            warnings.append(f"throttling active: {', '.join(throttling.now)}")
        if "under-voltage has occurred" in throttling.since_boot:
            warnings.append("under-voltage has occurred since boot: the power supply is too weak")
    return warnings


def diagnose(
    hardware: Hardware,
    profiles: Mapping[str, BoardProfile],
    thermal: list[ThermalZone],
    throttling: Throttling | None,
    engine_kernel: Callable[[], str],
    forced_kernel: str | None,
    model_dir: Path | None = None,
) -> DoctorReport:
    """Judge probed facts: pick the profile, the kernel and threads, and collect warnings."""
    profile = match_profile(hardware, profiles)
    kernel, warnings = choose_kernel(hardware.features, forced_kernel, engine_kernel)
    warnings += _health_warnings(hardware, profile, thermal, throttling)
    model = None
    if model_dir is not None:
        model, model_warnings = check_model(model_dir, profile, hardware.memory.available_mb)
        warnings += model_warnings
    return DoctorReport(
        board=profile.name if profile else (hardware.device_tree_model or "unknown"),
        device_tree_model=hardware.device_tree_model,
        machine=hardware.machine,
        profile=profile.name if profile else None,
        cpu_model=profile.cpu_model if profile else None,
        cpu_features=sorted(hardware.features),
        cores=hardware.cores,
        kernel=kernel,
        decode_threads=min(profile.decode_threads, hardware.cores) if profile else hardware.cores,
        prefill_threads=min(profile.prefill_threads, hardware.cores) if profile else hardware.cores,
        ram_total_mb=hardware.memory.total_mb,
        ram_available_mb=hardware.memory.available_mb,
        thermal=thermal,
        throttling=throttling,
        model=model,
        warnings=warnings,
    )


def run_doctor(
    engine_kernel: Callable[[], str],
    model_dir: Path | None = None,
    root: Path = Path("/"),
    machine: str | None = None,
    hwcaps: HwcapReader = read_hwcaps,
    read_throttled: Callable[[], str | None] = run_vcgencmd_get_throttled,
    environ: Mapping[str, str] = os.environ,
) -> DoctorReport:
    """Probe the machine under `root` and diagnose it (the running machine by default)."""
    throttled = read_throttled()
    return diagnose(
        hardware=detect_hardware(root, machine, hwcaps),
        profiles=load_profiles(),
        thermal=read_thermal_zones(root),
        throttling=decode_throttled(throttled) if throttled is not None else None,
        engine_kernel=engine_kernel,
        forced_kernel=environ.get(KERNEL_ENV) or None,
        model_dir=model_dir,
    )

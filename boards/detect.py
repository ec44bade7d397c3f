"""What board and CPU this is: device-tree model, CPU features, cores and memory.

Every reader takes the file-system root to read from (and the hardware-capability
reader), so tests can present a Raspberry Pi or a Jetson from fixture files.
"""

from __future__ import annotations

import ctypes
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeReasonError
from .profiles import BoardProfile

# Linux arm64 hwcap ABI (asm/hwcap.h): getauxval keys and the bits the kernels need.
AT_HWCAP, AT_HWCAP2 = 16, 26
HWCAP_ASIMD, HWCAP_ASIMDDP, HWCAP2_I8MM = 1 << 1, 1 << 20, 1 << 13

# /proc/cpuinfo flags each x86 feature needs, matching the engine's cpuid checks.
_X86_FLAGS = {
    "avx2": {"avx2", "fma", "f16c"},
    "avx512_vnni": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"},
}
_MACHINE_ALIASES = {"arm64": "aarch64", "amd64": "x86_64"}
_DEVICE_TREE_MODEL_FILES = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")

HwcapReader = Callable[[], tuple[int, int]]


class DetectionError(EdgeReasonError, RuntimeError):
    """A system file that exists but cannot be understood."""


@dataclass(frozen=True)
class MemoryInfo:
    """RAM as /proc/meminfo reports it, in MiB."""

    total_mb: int
    available_mb: int


@dataclass(frozen=True)
class Hardware:
    """The facts about the machine that the doctor judges."""

    machine: str  # normalised platform.machine(): "aarch64" or "x86_64"
    device_tree_model: str | None  # None on machines without a device tree (PCs)
    cores: int
    features: frozenset[str]
    memory: MemoryInfo


def read_hwcaps() -> tuple[int, int]:
    """AT_HWCAP and AT_HWCAP2 of this process, through the C library's getauxval."""
    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
    return getauxval(AT_HWCAP), getauxval(AT_HWCAP2)


def normalise_machine(machine: str) -> str:
    """`platform.machine()` spelled the Linux way (arm64 -> aarch64, AMD64 -> x86_64)."""
    return _MACHINE_ALIASES.get(machine.lower(), machine)


def read_device_tree_model(root: Path) -> str | None:
    """The board's device-tree model string, or None where there is no device tree."""
    for name in _DEVICE_TREE_MODEL_FILES:
        path = root / name
        if path.is_file():
            # The property is a NUL-terminated C string.
            return path.read_bytes().split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return None


def aarch64_features(hwcap: int, hwcap2: int) -> frozenset[str]:
    """Kernel-relevant features from arm64 hardware-capability bits."""
    features = set()
    if hwcap & HWCAP_ASIMD:
        features.add("neon")
        if hwcap & HWCAP_ASIMDDP:
            features.add("dotprod")
            if hwcap2 & HWCAP2_I8MM:
                features.add("i8mm")
    return frozenset(features)


def x86_features(cpuinfo: str) -> frozenset[str]:
    """Kernel-relevant features from the first `flags` line of /proc/cpuinfo."""
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    flags = set(match.group(1).split()) if match else set()
    return frozenset(name for name, needs in _X86_FLAGS.items() if needs <= flags)


def read_cpu_features(machine: str, root: Path, hwcaps: HwcapReader) -> frozenset[str]:
    """The CPU features the engine's kernels care about, read the way the engine does.

    On aarch64 that is getauxval, never /proc/cpuinfo, which under an emulator
    describes the host rather than the emulated CPU.
    """
    if machine == "aarch64":
        return aarch64_features(*hwcaps())
    if machine == "x86_64":
        return x86_features(_read_text(root / "proc/cpuinfo"))
    return frozenset()


def read_memory(root: Path) -> MemoryInfo:
    """MemTotal and MemAvailable from /proc/meminfo."""
    path = root / "proc/meminfo"
    fields = {}
    for line in _read_text(path).splitlines():
        match = re.match(r"(\w+):\s+(\d+) kB$", line.strip())
        if match:
            fields[match.group(1)] = int(match.group(2)) // 1024
    missing = {"MemTotal", "MemAvailable"} - fields.keys()
    if missing:
        raise DetectionError(f"{path}: no {' or '.join(sorted(missing))} line")
    return MemoryInfo(total_mb=fields["MemTotal"], available_mb=fields["MemAvailable"])


def read_core_count(root: Path) -> int:
    """Online CPUs, from the ranges in /sys/devices/system/cpu/online (e.g. "0-3,6")."""
    path = root / "sys/devices/system/cpu/online"
    text = _read_text(path).strip()
    count = 0
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise DetectionError(f"{path}: cannot read CPU list {text!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        count += last - first + 1
    return count


def detect_hardware(
    root: Path = Path("/"), machine: str | None = None, hwcaps: HwcapReader = read_hwcaps
) -> Hardware:
    """Probe the machine under `root` (the running one by default)."""
    arch = normalise_machine(machine or platform.machine())
    return Hardware(
        machine=arch,
        device_tree_model=read_device_tree_model(root),
        cores=read_core_count(root),
        features=read_cpu_features(arch, root, hwcaps),
        memory=read_memory(root),
    )


def match_profile(hardware: Hardware, profiles: Mapping[str, BoardProfile]) -> BoardProfile | None:
    """The profile whose device-tree prefix matches the board, else the generic profile
    for the architecture when the machine has no device tree, else None."""
    model = hardware.device_tree_model
    if model is not None:
        for profile in profiles.values():
            if any(model.startswith(prefix) for prefix in profile.device_tree_models):
                return profile
        return None
    for profile in profiles.values():
        if profile.arch == hardware.machine and not profile.device_tree_models:
            return profile
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DetectionError(f"{path}: cannot read: {e.strerror}") from None

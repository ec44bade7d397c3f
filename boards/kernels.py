"""The engine's kernel variants: which CPU features each needs, its source file and flags.

This mirrors csrc/kernels/isa_table.def, the engine's one list of instruction sets (from
which the dispatcher's order, the CPU feature flags and CMake's per-file flags are derived),
so that `doctor` can say which variant a CPU would run without the native module (a board
may have no csrc/ to read). tests/boards/test_kernels.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class KernelVariant:
    """One instruction-set build of the matrix kernels."""

    name: str
    source: str  # path relative to the repository root
    flags: tuple[str, ...]  # compiler flags that file alone gets
    requires: frozenset[str]  # CPU features (names as in BoardProfile.features)


_AVX2_FLAGS = ("-mavx2", "-mfma", "-mf16c")

# Fastest first, as the dispatcher tries them. x86 and Arm features never appear
# together, so one list serves both architectures.
KERNEL_VARIANTS: tuple[KernelVariant, ...] = (
    KernelVariant(
        "avx512_vnni",
        "csrc/kernels/avx512_vnni.cpp",
        _AVX2_FLAGS + ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni"),
        frozenset({"avx2", "avx512_vnni"}),
    ),
    KernelVariant("avx2", "csrc/kernels/avx2.cpp", _AVX2_FLAGS, frozenset({"avx2"})),
    KernelVariant(
        "neon_i8mm",
        "csrc/kernels/neon_i8mm.cpp",
        ("-march=armv8.2-a+dotprod+i8mm",),
        frozenset({"neon", "dotprod", "i8mm"}),
    ),
    KernelVariant(
        "neon_dotprod",
        "csrc/kernels/neon_dotprod.cpp",
        ("-march=armv8.2-a+dotprod",),
        frozenset({"neon", "dotprod"}),
    ),
    KernelVariant("neon", "csrc/kernels/neon.cpp", ("-march=armv8-a",), frozenset({"neon"})),
    KernelVariant("scalar", "csrc/kernels/scalar.cpp", (), frozenset()),
)

KERNEL_NAMES: tuple[str, ...] = tuple(v.name for v in KERNEL_VARIANTS)

# The feature names a profile or the detector may use, per `platform.machine()`.
FEATURES_BY_ARCH: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"avx2", "avx512_vnni"}),
    "aarch64": frozenset({"neon", "dotprod", "i8mm"}),
}


def kernel_variant(name: str) -> KernelVariant:
    """The variant called `name`; ValueError listing the known names otherwise."""
    for variant in KERNEL_VARIANTS:
        if variant.name == name:
            return variant
    raise ValueError(f"unknown kernel variant {name!r} (known: {', '.join(KERNEL_NAMES)})")


def supported_kernels(features: Iterable[str]) -> list[str]:
    """Names of the variants a CPU with `features` can run, fastest first."""
    have = frozenset(features)
    return [v.name for v in KERNEL_VARIANTS if v.requires <= have]


def best_kernel(features: Iterable[str]) -> str:
    """The variant the engine's dispatcher picks for `features` when none is forced."""
    return supported_kernels(features)[0]


def is_slower(kernel: str, than: str) -> bool:
    """Whether `kernel` comes after `than` in the dispatcher's fastest-first order."""
    return KERNEL_NAMES.index(kernel_variant(kernel).name) > KERNEL_NAMES.index(
        kernel_variant(than).name
    )

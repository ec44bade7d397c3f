from __future__ import annotations

import platform
import re
from pathlib import Path

import pytest
from edge_reason.boards.kernels import (
    FEATURES_BY_ARCH,
    KERNEL_VARIANTS,
    best_kernel,
    is_slower,
    kernel_variant,
    supported_kernels,
)


@pytest.mark.parametrize(
    ("features", "kernel"),
    [
        (set(), "scalar"),
        ({"avx2"}, "avx2"),
        ({"avx2", "avx512_vnni"}, "avx512_vnni"),
        ({"avx512_vnni"}, "scalar"),  # the engine requires AVX2 under AVX-512 VNNI
        ({"neon"}, "neon"),
        ({"neon", "dotprod"}, "neon_dotprod"),
        ({"neon", "dotprod", "i8mm"}, "neon_i8mm"),
    ],
)
def test_best_kernel_follows_the_dispatchers_order(features: set[str], kernel: str) -> None:
    assert best_kernel(features) == kernel


def test_supported_kernels_are_listed_fastest_first_ending_in_scalar() -> None:
    assert supported_kernels({"neon", "dotprod"}) == ["neon_dotprod", "neon", "scalar"]


def test_slower_means_later_in_the_order() -> None:
    assert is_slower("neon", than="neon_dotprod")
    assert not is_slower("avx512_vnni", than="avx2")
    with pytest.raises(ValueError, match="unknown kernel variant 'sve'"):
        is_slower("sve", than="neon")


def test_kernel_sources_carry_the_flags_of_their_instruction_set() -> None:
    assert kernel_variant("neon_i8mm").flags == ("-march=armv8.2-a+dotprod+i8mm",)
    assert kernel_variant("avx512_vnni").source == "csrc/kernels/avx512_vnni.cpp"
    assert "-mavx512vnni" in kernel_variant("avx512_vnni").flags


# ---- boards/kernels.py against csrc/kernels/isa_table.def ------------------------

ISA_TABLE = Path(__file__).resolve().parents[2] / "csrc" / "kernels" / "isa_table.def"
_FEATURE = re.compile(r"^EDGE_CPU_FEATURE\((\w+), (\w+)\)$")
_VARIANT = re.compile(r'^EDGE_KERNEL_VARIANT\((\w+), (\w+), ([^"]+), "([^"]*)"\)$')


def _isa_table() -> tuple[list[tuple[str, str]], list[tuple[str, str, frozenset[str], str]]]:
    """(feature, arch) and (variant, arch, needed features, flags) entries, in file order,
    read as CMakeLists.txt reads them: each entry is one line."""
    features, variants = [], []
    for line in ISA_TABLE.read_text().splitlines():
        if line.startswith("EDGE_CPU_FEATURE("):
            m = _FEATURE.match(line)
            assert m, f"unreadable entry: {line}"
            features.append((m[1], m[2]))
        elif line.startswith("EDGE_KERNEL_VARIANT("):
            m = _VARIANT.match(line)
            assert m, f"unreadable entry: {line}"
            needs = re.findall(r"EDGE_FEATURE\((\w+)\)", m[3])
            assert m[3].strip() == (" && ".join(f"EDGE_FEATURE({f})" for f in needs) or "true")
            variants.append((m[1], m[2], frozenset(needs), m[4]))
    return features, variants


def test_the_variants_mirror_the_isa_table() -> None:
    _, variants = _isa_table()
    assert [(v.name, v.source, v.flags, v.requires) for v in KERNEL_VARIANTS] == [
        (name, f"csrc/kernels/{name}.cpp", tuple(flags.split()), needs)
        for name, _, needs, flags in variants
    ]


def test_the_features_by_architecture_mirror_the_isa_table() -> None:
    features, variants = _isa_table()
    by_arch: dict[str, set[str]] = {}
    for name, arch in features:
        by_arch.setdefault(arch.lower(), set()).add(name)
    assert FEATURES_BY_ARCH == {arch: frozenset(names) for arch, names in by_arch.items()}
    for name, arch, needs, _ in variants:
        assert needs <= by_arch.get(arch.lower(), set()), f"{name} needs another arch's feature"


def test_the_native_module_has_the_isa_tables_variants_for_this_machine() -> None:
    native = pytest.importorskip(
        "edge_reason._native",
        reason="the native module is not built (boards read the table without it)",
    )
    arch = {"x86_64": "X86_64", "amd64": "X86_64", "aarch64": "AARCH64", "arm64": "AARCH64"}
    here = arch.get(platform.machine().lower(), "NONE")
    _, variants = _isa_table()
    assert [name for name, _ in native.kernel_variants()] == [
        name for name, variant_arch, _, _ in variants if variant_arch in ("ANY", here)
    ]

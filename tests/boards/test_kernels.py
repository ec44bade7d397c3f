from __future__ import annotations

import pytest
from edge_reason.boards.kernels import best_kernel, is_slower, kernel_variant, supported_kernels


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

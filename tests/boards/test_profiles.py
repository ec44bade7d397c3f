from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from edge_reason.boards.memory import BYTES_PER_PARAM, fits, kv_cache_bytes, memory_budget
from edge_reason.boards.profiles import PROFILES_DIR, ProfileError, load_profile, load_profiles


def test_every_board_of_the_issue_has_a_profile_with_its_cpu() -> None:
    profiles = load_profiles()
    facts = {
        name: (p.cpu_model, p.cores, p.ram_mb, set(p.features)) for name, p in profiles.items()
    }
    assert facts == {
        "raspberry-pi-4": ("Cortex-A72", 4, 4096, {"neon"}),
        "raspberry-pi-5": ("Cortex-A76", 4, 8192, {"neon", "dotprod"}),
        "raspberry-pi-zero-2w": ("Cortex-A53", 4, 512, {"neon"}),
        "jetson-nano": ("Cortex-A57", 4, 4096, {"neon"}),
        "jetson-orin-nano": ("Cortex-A78AE", 6, 8192, {"neon", "dotprod"}),
        "generic-x86_64": ("x86-64-v3", 4, 16384, {"avx2"}),
    }
    for p in profiles.values():
        assert 1 <= p.decode_threads <= p.prefill_threads <= p.cores
        assert p.bandwidth_gbps > 0 and "theoretical peak" in p.bandwidth_source


def test_compiler_flags_cover_exactly_the_kernels_the_cpu_can_run() -> None:
    pi4, pi5 = load_profile("raspberry-pi-4"), load_profile("raspberry-pi-5")
    assert pi4.compiler_flags == {
        "csrc/kernels/neon.cpp": ("-march=armv8-a", "-mtune=cortex-a72"),
        "csrc/kernels/scalar.cpp": ("-mtune=cortex-a72",),
    }
    assert pi5.compiler_flags["csrc/kernels/neon_dotprod.cpp"] == (
        "-march=armv8.2-a+dotprod",
        "-mtune=cortex-a76",
    )
    assert "csrc/kernels/neon_i8mm.cpp" not in pi5.compiler_flags
    x86 = load_profile("generic-x86_64").compiler_flags
    assert x86["csrc/kernels/avx2.cpp"][:3] == ("-mavx2", "-mfma", "-mf16c")


def test_largest_model_is_computed_from_ram_and_is_the_fitting_limit() -> None:
    zero = load_profile("raspberry-pi-zero-2w")
    s = zero.sizing
    for quant in BYTES_PER_PARAM:
        largest = zero.largest_params(quant)
        assert fits(zero, largest, quant, s.context, s.layers, s.kv_dim)
        assert not fits(zero, largest + 1000, quant, s.context, s.layers, s.kv_dim)
    budget = memory_budget(zero) - kv_cache_bytes(s.context, s.layers, s.kv_dim, zero.kv_cache)
    assert zero.largest_params("int4") == int(budget / (0.5 + 2 / 32))
    # Qwen2.5-0.5B (494 M parameters) fits the Zero 2 W at int4 but not at int8.
    assert fits(zero, 494_000_000, "int4", 1024, 24, 128)
    assert not fits(zero, 494_000_000, "int8", 1024, 24, 128)


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown board 'pi-6'.*raspberry-pi-4"):
        load_profile("pi-6")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cores = 4", "cores = 0", r"raspberry-pi-4.toml:9: \[cpu\].cores must be a positive"),
        ('features = ["neon"]', 'features = ["sve"]', r":10: \[cpu\].features .*: sve"),
        ("decode = 3", "decode = 8", r":\d+: \[threads\].decode must be at most the 4 cores"),
        ("ram_mb = 4096", "ram_gb = 4", r":\d+: \[memory\].ram_gb is not a known field"),
        ('default_quant = "int4"', 'default_quant = "int3"', r"\[inference\].default_quant must"),
        ("headroom_mb = 768", "headroom_mb = 5000", r"headroom_mb must be less than ram_mb"),
        ('name = "raspberry-pi-4"', 'name = "pi4"', r":1: name must match the file name"),
        ("context = 4096", "context = 40000000", r"\[sizing\].context leaves no RAM"),
        ("[threads]", "[threads", r"raspberry-pi-4.toml: not valid TOML"),
        ("[sizing]", "[sizes]", r"sizes is not a known field"),
    ],
)
def test_a_bad_profile_is_refused_naming_file_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    source = (PROFILES_DIR / "raspberry-pi-4.toml").read_text()
    assert old in source
    shutil.copy(PROFILES_DIR / "raspberry-pi-4.toml", tmp_path)
    (tmp_path / "raspberry-pi-4.toml").write_text(source.replace(old, new, 1))
    with pytest.raises(ProfileError, match=message):
        load_profile("raspberry-pi-4", tmp_path)


def test_a_folder_without_profiles_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no board profiles"):
        load_profiles(tmp_path)

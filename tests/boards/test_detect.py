from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from edge_reason.boards.detect import (
    HWCAP2_I8MM,
    HWCAP_ASIMD,
    HWCAP_ASIMDDP,
    DetectionError,
    Hardware,
    MemoryInfo,
    aarch64_features,
    detect_hardware,
    match_profile,
    read_memory,
    x86_features,
)
from edge_reason.boards.profiles import load_profiles
from edge_reason.boards.thermal import ThermalZone, decode_throttled, read_thermal_zones

FIXTURES = Path(__file__).resolve().parent / "fixtures"
Detect = Callable[[str, str], tuple[Hardware, str]]


@pytest.fixture
def detect(fake_board: Callable) -> Detect:
    """detect(board, machine) -> (the hardware found, the name of the matching profile)."""

    def run(board: str, machine: str) -> tuple[Hardware, str]:
        fake = fake_board(board)
        hardware = detect_hardware(fake.root, machine, fake.hwcaps)
        profile = match_profile(hardware, load_profiles())
        assert profile is not None
        return hardware, profile.name

    return run


def test_a_raspberry_pi_4_is_recognised_with_plain_neon(detect: Detect) -> None:
    hardware, profile = detect("pi4", "aarch64")
    assert profile == "raspberry-pi-4"
    assert hardware.device_tree_model == "Raspberry Pi 4 Model B Rev 1.4"
    assert hardware.features == {"neon"}
    assert hardware.cores == 4
    assert hardware.memory == MemoryInfo(total_mb=3794, available_mb=3224)


def test_a_raspberry_pi_5_has_dotprod(detect: Detect) -> None:
    hardware, profile = detect("pi5", "aarch64")
    assert (profile, hardware.features) == ("raspberry-pi-5", {"neon", "dotprod"})


def test_a_jetson_is_found_through_the_sys_firmware_device_tree(detect: Detect) -> None:
    hardware, profile = detect("jetson-orin-nano", "arm64")
    assert hardware.machine == "aarch64"
    assert profile == "jetson-orin-nano"
    assert hardware.cores == 6


def test_an_x86_box_reads_cpuinfo_flags_and_gets_the_generic_profile(detect: Detect) -> None:
    hardware, profile = detect("x86", "x86_64")
    assert (profile, hardware.device_tree_model) == ("generic-x86_64", None)
    assert hardware.features == {"avx2"}
    assert hardware.cores == 8


def test_an_unknown_arm_board_has_no_profile(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("proc/device-tree", "sys/devices/system/cpu"):
        (root / name).mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(b"Pine64 RockPro64 v2.1\0")
    (root / "sys/devices/system/cpu/online").write_text("0-1,4-5\n")
    (root / "proc/meminfo").write_text((FIXTURES / "pi4/proc/meminfo").read_text())
    hardware = detect_hardware(root, "aarch64", lambda: (HWCAP_ASIMD, 0))
    assert hardware.cores == 4
    assert match_profile(hardware, load_profiles()) is None


def test_hwcap_bits_map_to_features_each_needing_the_one_before() -> None:
    assert aarch64_features(0, HWCAP2_I8MM) == set()
    assert aarch64_features(HWCAP_ASIMD | HWCAP_ASIMDDP, HWCAP2_I8MM) == {"neon", "dotprod", "i8mm"}
    assert aarch64_features(HWCAP_ASIMD, HWCAP2_I8MM) == {"neon"}


def test_avx512_vnni_needs_all_its_cpuinfo_flags() -> None:
    flags = "flags : avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni\n"
    assert x86_features(flags) == {"avx2", "avx512_vnni"}
    assert x86_features(flags.replace(" avx512bw", "")) == {"avx2"}
    assert x86_features("processor : 0\n") == set()


def test_meminfo_without_memavailable_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal: 1000 kB\n")
    with pytest.raises(DetectionError, match=r"proc/meminfo: no MemAvailable line"):
        read_memory(tmp_path)


def test_thermal_zones_are_read_in_numeric_order() -> None:
    zones = read_thermal_zones(FIXTURES / "jetson-orin-nano")
    assert zones == [
        ThermalZone("cpu-thermal", 47.281),
        ThermalZone("gpu-thermal", 45.937),
        ThermalZone("tj-thermal", 48.062),
    ]
    assert read_thermal_zones(FIXTURES / "x86") == []


def test_vcgencmd_throttle_bits_are_decoded_into_words() -> None:
    t = decode_throttled("throttled=0x50005\n")
    assert t.raw == 0x50005
    assert t.now == ("under-voltage detected", "currently throttled")
    assert t.since_boot == ("under-voltage has occurred", "throttling has occurred")
    assert decode_throttled("throttled=0x0").now == ()
    with pytest.raises(DetectionError, match="unexpected output"):
        decode_throttled('error=1 error_msg="Command not registered"')

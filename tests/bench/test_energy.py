"""Power sensors found and read from fake sysfs trees and a fake vcgencmd."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge_reason.bench.energy import (
    PowerSampler,
    PowerSensor,
    find_power_sensor,
    parse_pmic_adc,
)
from edge_reason.bench.runner import Case, run_cases

PMIC_OUTPUT = """\
     3V7_WL_SW_A current(0)=0.10000000A
     3V3_SYS_A current(1)=0.20000000A
     VDD_CORE_A current(7)=2.00000000A
     3V7_WL_SW_V volt(8)=3.70000000V
     3V3_SYS_V volt(9)=3.30000000V
     VDD_CORE_V volt(15)=0.80000000V
     EXT5V_V volt(24)=5.10000000V
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def no_command(argv: Sequence[str]) -> str:
    return ""


def test_jetson_iio_reads_the_board_input_rail_alone(tmp_path: Path) -> None:
    dev = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for channel, (name, mw) in enumerate([("POM_5V_IN", 4200), ("POM_5V_GPU", 900)]):
        write(dev / f"rail_name_{channel}", name)
        write(dev / f"in_power{channel}_input", str(mw))
    sensor = find_power_sensor(tmp_path, no_command)
    assert sensor is not None and sensor.name == "INA3221 (POM_5V_IN)"
    assert sensor.read_watts() == pytest.approx(4.2)
    write(dev / "in_power0_input", "5000")  # read afresh each time
    assert sensor.read_watts() == pytest.approx(5.0)


def test_jetson_hwmon_multiplies_volts_and_amps_and_sums_without_an_input_rail(
    tmp_path: Path,
) -> None:
    hw = tmp_path / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for channel, (label, mv, ma) in enumerate(
        [("VDD_CPU_GPU_CV", 5000, 400), ("VDD_SOC", 5000, 200)], start=1
    ):
        write(hw / f"in{channel}_label", label)
        write(hw / f"in{channel}_input", str(mv))
        write(hw / f"curr{channel}_input", str(ma))
    write(hw / "in7_input", "5000")  # the summed-shunt channel: no current, no label
    sensor = find_power_sensor(tmp_path, no_command)
    assert sensor is not None and sensor.name == "INA3221 (VDD_CPU_GPU_CV+VDD_SOC)"
    assert sensor.read_watts() == pytest.approx(3.0)


def test_generic_hwmon_power_is_in_microwatts(tmp_path: Path) -> None:
    hw = tmp_path / "sys/class/hwmon/hwmon0"
    write(hw / "name", "ina226")
    write(hw / "power1_input", "2500000")
    sensor = find_power_sensor(tmp_path, no_command)
    assert sensor is not None and sensor.name == "hwmon (ina226/power1_input)"
    assert sensor.read_watts() == pytest.approx(2.5)


def test_raspberry_pi_5_pmic_sums_current_times_voltage_per_rail(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def vcgencmd(argv: Sequence[str]) -> str:
        calls.append(list(argv))
        return PMIC_OUTPUT

    sensor = find_power_sensor(tmp_path, vcgencmd)
    assert sensor is not None and sensor.name.startswith("Raspberry Pi 5 PMIC")
    # 0.1 x 3.7 + 0.2 x 3.3 + 2.0 x 0.8; EXT5V has a voltage only
    assert sensor.read_watts() == pytest.approx(0.37 + 0.66 + 1.6)
    assert calls[0] == ["vcgencmd", "pmic_read_adc"]


def test_no_sensor_on_a_machine_without_any(tmp_path: Path) -> None:
    assert find_power_sensor(tmp_path, no_command) is None
    assert (
        find_power_sensor(tmp_path, lambda argv: 'error=1 error_msg="Command not registered"')
        is None
    )
    with pytest.raises(ValueError, match="no rail with both current and voltage"):
        parse_pmic_adc("EXT5V_V volt(24)=5.1V\n")


def test_sampler_averages_the_window_and_reports_a_failing_sensor() -> None:
    readings = iter([1.0, 3.0, 5.0, 7.0])

    def read() -> float:
        try:
            return next(readings)
        except StopIteration:
            raise OSError("sensor went away") from None

    with PowerSampler(PowerSensor("fake", read, 0.01)) as sampler:
        deadline = time.time() + 5
        while sampler.error is None and time.time() < deadline:
            time.sleep(0.01)
    assert [w for _, w in sampler.samples] == [1.0, 3.0, 5.0, 7.0]
    assert sampler.error == "fake: OSError: sensor went away"
    first, last = sampler.samples[0][0], sampler.samples[-1][0]
    assert sampler.mean_watts(first, last) == pytest.approx(4.0)
    assert sampler.mean_watts(last + 10, last + 20) is None


def test_run_cases_turns_power_during_decode_into_joules_per_token(
    tiny_models: dict[str, Path],
) -> None:
    case = Case("native", "int8", 1, str(tiny_models["qwen2"]))
    sensor = PowerSensor("constant 5 W", lambda: 5.0, 0.005)
    report = run_cases([case], prompt_tokens=16, gen_tokens=32, repeats=1, power=sensor)
    (result,) = report["results"]
    assert result["decode_j_per_token"] == pytest.approx(5.0 / result["decode_tps"])
    assert report["machine"]["power_sensor"] == "constant 5 W"
    assert report["machine"]["power_sensor_error"] is None

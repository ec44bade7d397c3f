"""Board power sensors, sampled while the benchmark decodes, for energy per token.

Sources, tried in order:
- Jetson's INA3221 through the IIO driver (L4T 32):
  /sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power<N>_input, milliwatts,
  with rail_name_<N> beside it;
- Jetson's INA3221 through hwmon (JetPack 5 and later):
  /sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in<N>_input (mV) and
  curr<N>_input (mA), with in<N>_label;
- any hwmon power<N>_input, microwatts (/sys/class/hwmon/hwmon*/);
- Raspberry Pi 5's PMIC, `vcgencmd pmic_read_adc`: current and voltage per
  rail, multiplied and summed (the PMIC's rails, not the USB-C input: it
  leaves out the board's 5 V peripherals).
On the INA3221 the board-input rail (a name ending in "_IN") is the whole
module's draw; the other channels are parts of it, so it alone is read when
present, and all channels summed otherwise.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CommandRunner = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str]) -> str:
    """stdout of `argv`, or "" when it is missing or fails (no sensor then)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


@dataclass(frozen=True)
class PowerSensor:
    """A way to read the board's power draw in watts, named for the report."""

    name: str
    read_watts: Callable[[], float]
    interval_s: float  # how often sampling it is cheap enough


def _read_number(path: Path) -> float:
    return float(path.read_text().strip())


def _board_input_first(named: dict[str, Callable[[], float]]) -> tuple[str, Callable[[], float]]:
    """The "*_IN" rail alone when there is one (the others are parts of it), else the sum."""
    for name, read in sorted(named.items()):
        if name.upper().endswith("_IN"):
            return name, read
    reads = list(named.values())
    return "+".join(sorted(named)), lambda: sum(r() for r in reads)


def _ina3221_iio(root: Path) -> PowerSensor | None:
    named: dict[str, Callable[[], float]] = {}
    for power in sorted(root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power*_input")):
        channel = power.name.removeprefix("in_power").removesuffix("_input")
        label = power.parent / f"rail_name_{channel}"
        name = label.read_text().strip() if label.is_file() else f"channel {channel}"
        named[name] = lambda p=power: _read_number(p) / 1e3  # milliwatts
    if not named:
        return None
    rails, read = _board_input_first(named)
    return PowerSensor(f"INA3221 ({rails})", read, 0.05)


def _ina3221_hwmon(root: Path) -> PowerSensor | None:
    named: dict[str, Callable[[], float]] = {}
    for volts in sorted(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_input")):
        channel = volts.name.removeprefix("in").removesuffix("_input")
        amps = volts.parent / f"curr{channel}_input"
        label = volts.parent / f"in{channel}_label"
        if not amps.is_file() or not label.is_file():  # summed-shunt and unlabelled inputs
            continue
        named[label.read_text().strip()] = (
            lambda v=volts, a=amps: _read_number(v) * _read_number(a) / 1e6  # mV x mA
        )
    if not named:
        return None
    rails, read = _board_input_first(named)
    return PowerSensor(f"INA3221 ({rails})", read, 0.05)


def _hwmon_power(root: Path) -> PowerSensor | None:
    inputs = sorted(root.glob("sys/class/hwmon/hwmon*/power*_input"))
    if not inputs:
        return None
    names = []
    for p in inputs:
        chip = p.parent / "name"
        names.append(f"{chip.read_text().strip() if chip.is_file() else p.parent.name}/{p.name}")
    return PowerSensor(
        f"hwmon ({', '.join(names)})",
        lambda: sum(_read_number(p) for p in inputs) / 1e6,  # microwatts
        0.05,
    )


_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+\w+\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


def parse_pmic_adc(text: str) -> float:
    """Watts from `vcgencmd pmic_read_adc` output: the sum of current x voltage per rail."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    rails = amps.keys() & volts.keys()
    if not rails:
        raise ValueError(f"no rail with both current and voltage in pmic_read_adc output {text!r}")
    return sum(amps[r] * volts[r] for r in rails)


def _pi5_pmic(run: CommandRunner) -> PowerSensor | None:
    argv = ("vcgencmd", "pmic_read_adc")
    try:
        parse_pmic_adc(run(argv))
    except ValueError:
        return None
    # A process per reading: sampled less often than a sysfs file.
    return PowerSensor("Raspberry Pi 5 PMIC (sum of rails)", lambda: parse_pmic_adc(run(argv)), 0.5)


def find_power_sensor(
    root: Path = Path("/"), run: CommandRunner = run_command
) -> PowerSensor | None:
    """The first power source this board has (see the module docstring), or None."""
    for probe in (_ina3221_iio, _ina3221_hwmon, _hwmon_power):
        sensor = probe(root)
        if sensor is not None:
            return sensor
    return _pi5_pmic(run)


class PowerSampler:
    """Reads a sensor on a background thread; answers the mean power over a time window.

    Times are time.time() values, so a worker process's clock readings line up.
    """

    def __init__(self, sensor: PowerSensor) -> None:
        self.sensor = sensor
        self.samples: list[tuple[float, float]] = []
        self.error: str | None = None  # why sampling stopped early, if it did
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), self.sensor.read_watts()))
            except (OSError, ValueError) as e:
                self.error = f"{self.sensor.name}: {type(e).__name__}: {e}"
                return
            self._stop.wait(self.sensor.interval_s)

    def __enter__(self) -> PowerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mean_watts(self, start: float, end: float) -> float | None:
        """Mean of the samples in [start, end], widened by one interval each side so a
        short window still holds its neighbours; None if there are none."""
        pad = self.sensor.interval_s
        inside = [w for t, w in self.samples if start - pad <= t <= end + pad]
        return sum(inside) / len(inside) if inside else None

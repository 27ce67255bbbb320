"""Sensor models: how each measurement follows state, load, ambient and degradation.

Signals are declared per tag name (the vocabulary of the example plant) and scaled by the tag's
limits, so a user plant with the same names behaves sensibly; other names get a generic model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ifactory.plant.spec import TagSpec
from ifactory.sim.behaviour import DOWN, EXECUTING, IDLE
from ifactory.sim.block import Block, FloatArray
from ifactory.sim.options import FailureMode

# Three-phase 400 V with cos(phi) 0.85: kW per ampere.
KW_PER_AMPERE = 3**0.5 * 0.400 * 0.85


@dataclass(frozen=True)
class Profile:
    """How a kind of machine draws current and whether its motor turns when it is idle."""

    # Current by state (executing, setup, idle, down, maintenance) as a fraction of the range.
    current: tuple[float, float, float, float, float]
    # A hydraulic pump or an unloaded compressor keeps running while the machine is idle.
    motor_in_idle: bool = False


PROFILES = {
    "cnc_mill": Profile((0.30, 0.05, 0.05, 0.002, 0.0)),
    # Idle current stays well above the 8 A a retrofit's state rule uses to tell idle from down.
    "press": Profile((0.45, 0.06, 0.08, 0.002, 0.0), motor_in_idle=True),
    "injection_moulder": Profile((0.40, 0.08, 0.07, 0.002, 0.0)),
    "robot_cell": Profile((0.33, 0.05, 0.04, 0.002, 0.0)),
    "packaging_machine": Profile((0.30, 0.05, 0.04, 0.002, 0.0)),
    "air_compressor": Profile((0.75, 0.30, 0.30, 0.002, 0.0), motor_in_idle=True),
}
DEFAULT_PROFILE = Profile((0.35, 0.06, 0.06, 0.002, 0.0))
# Machines without a class (retrofits) are recognised by a telling tag.
TELLING_TAGS = {
    "hydraulic_pressure": "press",
    "discharge_pressure": "air_compressor",
    "injection_pressure": "injection_moulder",
    "dimension": "cnc_mill",
}


def profile_for(equipment_class: str | None, tag_names: set[str]) -> Profile:
    """The profile of a machine: by class, else guessed from its tags."""
    if equipment_class in PROFILES:
        return PROFILES[equipment_class]
    for name, cls in TELLING_TAGS.items():
        if name in tag_names:
            return PROFILES[cls]
    return DEFAULT_PROFILE


def _range(spec: TagSpec, default: tuple[float, float] = (0.0, 100.0)) -> tuple[float, float]:
    lim = spec.limits
    lo = lim.low if lim is not None and lim.low is not None else default[0]
    hi = lim.high if lim is not None and lim.high is not None else default[1]
    return lo, hi


def _alarm_high(spec: TagSpec, fallback: float) -> float:
    lim = spec.limits
    return lim.alarm_high if lim is not None and lim.alarm_high is not None else fallback


def _nominal_pressure(spec: TagSpec) -> tuple[float, float]:
    """Nominal working pressure and the pressure at which a leaking seal fails."""
    lo, hi = _range(spec)
    lim = spec.limits
    if lim is not None and lim.alarm_low is not None:
        # The alarm sits a fifth below nominal; the seal gives out a tenth below the alarm.
        return lim.alarm_low * 1.25, lim.alarm_low * 0.9
    nominal = lo + 0.6 * (hi - lo)
    return nominal, nominal * 0.7


def _running(profile: Profile) -> tuple[float, float, float, float, float]:
    """How much the main motor turns, by state."""
    idle = 0.3 if profile.motor_in_idle else 0.1
    return (1.0, 0.15, idle, 0.02, 0.03)


# --- the machine's electrical load -------------------------------------------------------------


def compute_load(block: Block, profile: Profile, current_spec: TagSpec | None) -> None:
    """Motor current and electrical power (they drive current, power and energy tags)."""
    _, hi = _range(current_spec) if current_spec is not None else (0.0, 100.0)
    base = block.by_state(profile.current) * hi
    executing = block.state == EXECUTING
    wear = 1.0 + 0.15 * block.h(FailureMode.tool_wear) + 0.05 * block.h(FailureMode.bearing_wear)
    load = np.where(executing, block.speed * wear * (1.0 + block.smooth("load", 0.03)), 1.0)
    block.current_a = np.maximum(base * load, 0.0)
    block.power_kw = block.current_a * KW_PER_AMPERE


def motor_current(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Measured motor current: the load plus a few percent of noise."""
    return block.current_a * (1.0 + block.white(0.02)) + block.white(0.05)


def power(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Measured electrical power."""
    return block.power_kw * (1.0 + block.white(0.01))


# --- mechanical -------------------------------------------------------------------------------


def vibration_rms(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """RMS vibration: by state, rising roughly exponentially as a bearing wears."""
    executing_level = 0.28 * _alarm_high(spec, 7.1)
    # At the failure threshold the vibration is well past the alarm.
    excess = (
        (_alarm_high(spec, 7.1) - executing_level)
        * 1.25
        * block.severity.get(FailureMode.bearing_wear, 1.0)
    )
    turning = block.by_state(_running(profile))
    level = (executing_level + excess * block.h(FailureMode.bearing_wear)) * turning
    return level * (1.0 + block.smooth(spec.name, 0.06) + block.white(0.05))


def bearing_temp(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Bearing temperature: ambient plus a lagged rise by state, hotter as the bearing wears."""
    rise_max = 0.35 * (_alarm_high(spec, 80.0) - 21.0)
    idle = 0.6 if profile.motor_in_idle else 0.15
    rise = block.lag(
        spec.name, block.by_state((rise_max, 0.3 * rise_max, idle * rise_max, 0, 0)), 1200
    )
    wear = 1.0 + 1.1 * block.severity.get(FailureMode.bearing_wear, 1.0) * block.h(
        FailureMode.bearing_wear
    )
    return block.ambient + rise * wear + block.white(0.15)


def oil_temp(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Hydraulic oil temperature: slow, by state; a leaking system runs a little hotter."""
    rise_max = 0.55 * (_alarm_high(spec, 65.0) - 21.0)
    target = block.by_state((rise_max, 0.5 * rise_max, 0.7 * rise_max, 0, 0))
    rise = block.lag(spec.name, target, 2700)
    return block.ambient + rise + 6.0 * block.h(FailureMode.seal_leak) + block.white(0.1)


def outlet_temp(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Compressor outlet temperature."""
    rise_max = 0.5 * (_alarm_high(spec, 100.0) - 21.0)
    rise = block.lag(
        spec.name, block.by_state((rise_max, 0.6 * rise_max, 0.6 * rise_max, 0, 0)), 1200
    )
    return block.ambient + rise + block.smooth(spec.name, 0.6) + block.white(0.2)


def barrel_temp(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Barrel heater temperature: setpoint per product while heated, cooling when stopped."""
    _, hi = _range(spec, (0.0, 350.0))
    setpoint = 0.62 * hi + 12.0 * np.maximum(block.product, 0)
    heated = block.state <= IDLE  # executing, setup, idle
    target = np.where(heated, setpoint, block.ambient)
    return block.lag(spec.name, target, 1200) + block.white(0.4)


def mould_temp(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Mould temperature: held by the temperature controller while the machine is in use."""
    _, hi = _range(spec, (0.0, 150.0))
    setpoint = 0.4 * hi + 8.0 * np.maximum(block.product, 0)
    target = np.select(
        [block.state == EXECUTING, block.state <= IDLE], [setpoint, setpoint - 10.0], block.ambient
    )
    return block.lag(spec.name, target, 900) + block.white(0.3)


def _leak(block: Block, nominal: float, failing: float) -> FloatArray:
    """Factor a leaking seal takes off the pressure: at the threshold it reaches `failing`."""
    return 1.0 - (1.0 - failing / nominal) * block.h(FailureMode.seal_leak)


def hydraulic_pressure(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Hydraulic system pressure: pump on when not stopped, decaying as a seal leaks."""
    nominal, failing = _nominal_pressure(spec)
    level = block.by_state((1.0, 0.85, 0.95, 0.01, 0.0)) * nominal * _leak(block, nominal, failing)
    noise = np.where(block.state == EXECUTING, 0.015, 0.005) * nominal
    return level + block.white(noise)


def discharge_pressure(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Compressor discharge pressure: a load/unload sawtooth while loaded."""
    nominal, failing = _nominal_pressure(spec)
    phase = (block.t // 1_000_000 % 90).astype(np.float64) / 90.0
    saw = np.where(block.state == EXECUTING, 0.93 + 0.11 * phase, 0.97)
    level = block.by_state((1.0, 1.0, 1.0, 0.1, 0.0)) * saw * nominal
    return level * _leak(block, nominal, failing) + block.white(0.005 * nominal)


def injection_pressure(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Peak injection pressure of the last shot, lower as the check-ring seal leaks."""
    nominal, _ = _nominal_pressure(spec)
    return block.hold(spec.name, block.per_cycle[spec.name], nominal)


def per_cycle_injection_pressure(block: Block, spec: TagSpec) -> None:
    """One peak pressure per shot."""
    nominal, failing = _nominal_pressure(spec)
    rows = block.cycle_rows
    product = np.maximum(block.product[rows], 0)
    leak = _leak(block, nominal, failing)[rows]
    noise = block.rng.standard_normal(len(rows)) * 0.01 * nominal
    block.per_cycle[spec.name] = nominal * (1.0 + 0.04 * product) * leak + noise


def dimension(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Measured dimension of the last part."""
    return block.hold(spec.name, block.per_cycle[spec.name], nominal_dimension(spec))


def nominal_dimension(spec: TagSpec) -> float:
    """The dimension a part should have: mid-tolerance (the alarm limits)."""
    lim = spec.limits
    if lim is not None and lim.alarm_low is not None and lim.alarm_high is not None:
        return (lim.alarm_low + lim.alarm_high) / 2.0
    return 25.0


def per_cycle_dimension(block: Block, spec: TagSpec) -> None:
    """One dimension per part: nominal, minus the drift of a wearing tool, plus noise."""
    nominal = nominal_dimension(spec)
    lim = spec.limits
    tolerance = (
        (lim.alarm_high - lim.alarm_low) / 2.0
        if lim is not None and lim.alarm_low is not None and lim.alarm_high is not None
        else 0.05
    )
    rows = block.cycle_rows
    # A worn cutting edge leaves the bore small; near breakage it is well out of tolerance.
    drift = 1.6 * tolerance * block.severity.get(FailureMode.tool_wear, 1.0)
    wear = block.h(FailureMode.tool_wear)[rows]
    noise = block.rng.standard_normal(len(rows)) * 0.16 * tolerance
    block.per_cycle[spec.name] = nominal - drift * wear + noise


def cycle_time(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Actual duration of the last cycle."""
    return block.hold(spec.name, block.per_cycle[spec.name], float(block.cycle_time_s[0] or 0.0))


def per_cycle_time(block: Block, spec: TagSpec) -> None:
    """One duration per cycle: ideal cycle time over the speed factor, with jitter."""
    rows = block.cycle_rows
    actual = block.cycle_time_s[rows] / np.maximum(block.speed[rows], 0.1)
    block.per_cycle[spec.name] = actual * (1.0 + block.rng.standard_normal(len(rows)) * 0.01)


def spindle_speed(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Spindle speed: a programmed speed per product while cutting."""
    _, hi = _range(spec, (0.0, 12000.0))
    programmed = (0.7 - 0.12 * np.maximum(block.product, 0)) * hi
    on = block.state == EXECUTING
    return np.where(on, programmed * (1.0 + block.white(0.002)), 0.0)


def axis1_torque(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Robot axis torque: a motion pattern per cycle while executing, else holding torque."""
    _, hi = _range(spec, (-500.0, 500.0))
    seconds = block.t.astype(np.float64) / 1e6
    motion = 0.45 * hi * np.sin(2 * np.pi * seconds / np.maximum(block.cycle_time_s, 1.0))
    holding = block.by_state((0.0, 0.05, 0.05, 0.0, 0.0)) * hi
    executing = block.state == EXECUTING
    noise = block.white(0.01 * hi)
    noise[block.state == DOWN] = 0.0
    out: FloatArray = np.where(executing, motion, holding) + noise
    return out


def line_speed(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Packs per minute."""
    executing = block.state == EXECUTING
    rate = 60.0 / np.maximum(block.cycle_time_s, 0.1) * block.speed + block.white(0.2)
    out: FloatArray = np.where(executing, rate, 0.0)
    return out


def film_tension(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Film web tension: by state."""
    _, hi = _range(spec, (0.0, 300.0))
    level = block.by_state((0.4, 0.1, 0.25, 0.0, 0.0)) * hi
    return level + block.white(0.01 * hi) * (level > 0)


def run_hours(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """Operating-hours meter: counts while the motor turns."""
    on = (block.state == EXECUTING) | ((block.state == IDLE) & profile.motor_in_idle)
    return block.accumulate(spec.name, on * (block.step_s / 3600.0), block.initial_run_hours)


def generic(block: Block, spec: TagSpec, profile: Profile) -> FloatArray:
    """A measurement the simulator knows nothing about: a level by state, within its range."""
    lo, hi = _range(spec)
    level = lo + (hi - lo) * block.by_state((0.5, 0.25, 0.2, 0.05, 0.05))
    return level + block.white(0.01 * (hi - lo))


Renderer = Callable[[Block, TagSpec, Profile], FloatArray]
MEASUREMENTS: dict[str, Renderer] = {
    "motor_current": motor_current,
    "power": power,
    "vibration_rms": vibration_rms,
    "bearing_temp": bearing_temp,
    "oil_temp": oil_temp,
    "outlet_temp": outlet_temp,
    "barrel_temp": barrel_temp,
    "mould_temp": mould_temp,
    "hydraulic_pressure": hydraulic_pressure,
    "discharge_pressure": discharge_pressure,
    "injection_pressure": injection_pressure,
    "dimension": dimension,
    "cycle_time": cycle_time,
    "spindle_speed": spindle_speed,
    "axis1_torque": axis1_torque,
    "line_speed": line_speed,
    "film_tension": film_tension,
    "run_hours": run_hours,
}
# Measurements taken once per cycle, drawn before the counters (a bad dimension is scrap).
PER_CYCLE: dict[str, Callable[[Block, TagSpec], None]] = {
    "dimension": per_cycle_dimension,
    "injection_pressure": per_cycle_injection_pressure,
    "cycle_time": per_cycle_time,
}

"""Grid detection: how big the fake "pixels" of a generated image are (cell_px, not an integer) and where their
boundaries fall (phase), so that each cell can be read from its own interior.

Why this way: a cell boundary is where colour changes, so summing the absolute colour steps over every row gives a
profile along x whose peaks repeat every cell_px pixels (the same down the columns for y). The period of that comb
is found in its spectrum (a zero-padded FFT, then a direct DFT on a fine grid of frequencies around the peak, since
cell_px must be right to a small fraction of a pixel over 32+ cells), and the phase is the angle of the spectrum at
that frequency. A comb also has peaks at its harmonics (cell_px / 2, / 3, ...: strong when edges are sharp) but
none at twice its period, so the largest multiple of the strongest period that still holds a strong peak is taken
as the fundamental. Cells are square unless a size says otherwise: both axes' spectra are added, which doubles the
evidence. The confidence is the peak over the band's median: a grid stands far above its spectrum's floor, a
photo or noise does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixflow.errors import SpriteError

MIN_PERIOD = 3.0  # below this a "cell" is blur, not a block anyone drew
MIN_CELLS = 8  # a detected grid has at least this many cells a side: fewer repetitions, and photos look periodic
CLEAR_GRID = 0.3  # the confidence a grid needs (`_confidence`): measured, fake pixel art > 0.35, noise < 0.2
DOMINANCE = 0.4  # a harmonic: no other class of its boundaries holds this share of the strongest one's energy
FLOOR_PERCENTILE = 20  # of a profile: the noise floor under the boundaries' peaks
PADDING = 32  # FFT length over the image's: bins fine enough that a parabola finds the period to ~0.01 px


@dataclass(frozen=True)
class Grid:
    size: tuple[int, int]  # cells (columns, rows)
    cell_px: tuple[float, float]  # source pixels a cell (x, y)
    origin: tuple[float, float]  # where cell (0, 0) starts, in source pixels, in [-cell_px / 2, cell_px / 2)
    detected: bool  # detection found a clear grid (whether or not it was used)
    source: str  # "detected", "given" or "none" (no clear grid and nothing given: one pixel a cell)
    confidence: float


def find_grid(
    rgb: NDArray[np.uint8], *, size: tuple[int, int] | None = None, cell_px: float = 0.0, given: str = "fallback"
) -> Grid:
    """The grid of an (H, W, 3) image; `size` (cells) and `cell_px` are used as `given` says ("override": as is,
    only the phase detected; "fallback": only when detection finds no clear grid)."""
    height, width = rgb.shape[:2]
    px, py = _profiles(rgb)
    has_given = size is not None or cell_px > 0
    if given == "override" and has_given:
        return _given_grid(px, py, width, height, size, cell_px, detected=False)
    period, confidence = _detect_period(px, py, width, height)
    if period is not None and confidence >= CLEAR_GRID:
        origin = (_phase(px, period), _phase(py, period))
        count = (max(1, round(width / period)), max(1, round(height / period)))
        return Grid(count, (period, period), origin, True, "detected", confidence)
    if has_given:
        return _given_grid(px, py, width, height, size, cell_px, detected=False, confidence=confidence)
    return Grid((width, height), (1.0, 1.0), (0.0, 0.0), False, "none", confidence)


def _given_grid(
    px: NDArray[np.float64],
    py: NDArray[np.float64],
    width: int,
    height: int,
    size: tuple[int, int] | None,
    cell_px: float,
    *,
    detected: bool,
    confidence: float = 0.0,
) -> Grid:
    if size is not None:
        columns, rows = size
        periods = (cell_px, cell_px) if cell_px > 0 else (width / columns, height / rows)
    else:
        periods = (cell_px, cell_px)
        columns, rows = max(1, round(width / cell_px)), max(1, round(height / cell_px))
    if min(periods) < 1.0:
        raise SpriteError("invalid_param", f"grid: {columns}x{rows} cells are smaller than a pixel of {width}x{height}")
    origin = (_phase(px, periods[0]), _phase(py, periods[1]))
    return Grid((columns, rows), periods, origin, detected, "given", confidence)


def _profiles(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Summed absolute colour steps between neighbouring columns (x) and rows (y), less their floor (the noise's
    share, which every position has). Entry i is the step at boundary position i + 1. Every other row (column) is
    enough: a boundary runs across the whole sprite, and this is the step's biggest cost."""
    rows = rgb[::2]
    columns = np.ascontiguousarray(rgb[:, ::2])  # sums along the last axis are the fast ones
    dx = _steps(rows[:, 1:], rows[:, :-1]).sum(axis=0, dtype=np.uint32).sum(axis=1).astype(np.float64)
    dy = _steps(columns[1:], columns[:-1])
    dy_sum = dy.reshape(len(dy), -1).sum(axis=1, dtype=np.uint32).astype(np.float64)
    return _above_floor(dx), _above_floor(dy_sum)


def _steps(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """|a - b| in bytes, without widening: a third of the cost of an int16 difference."""
    high = np.maximum(a, b)
    high -= np.minimum(a, b)
    return high


def _above_floor(profile: NDArray[np.float64]) -> NDArray[np.float64]:
    if len(profile) == 0:
        return profile
    floor = np.partition(profile, len(profile) * FLOOR_PERCENTILE // 100)[len(profile) * FLOOR_PERCENTILE // 100]
    result: NDArray[np.float64] = np.maximum(profile - floor, 0.0)
    return result


def _detect_period(
    px: NDArray[np.float64], py: NDArray[np.float64], width: int, height: int
) -> tuple[float | None, float]:
    """The fundamental period (square cells) and the confidence, 0..1."""
    longest = min(width, height) / MIN_CELLS
    if longest < MIN_PERIOD or len(px) < 8 or len(py) < 8:
        return None, 0.0
    n = 1 << math.ceil(math.log2(PADDING * max(width, height)))
    spectrum = _normalised(px, n) + _normalised(py, n)
    k_low, k_high = math.ceil(n / longest), math.floor(n / MIN_PERIOD)
    if k_high - k_low < 2:
        return None, 0.0
    peak = k_low + int(np.argmax(spectrum[k_low : k_high + 1]))
    period = _peak_period(spectrum, peak, 1.0, n, k_low, k_high)
    # The strongest peak may be a harmonic (period / m): sharp edges make those nearly as strong. Then the
    # boundaries of its comb come in m classes (every m-th one) of which one holds the energy; for the true period
    # all classes hold about the same.
    for _ in range(4):
        energies = (_comb(px, period)[0], _comb(py, period)[0])
        for multiple in (2, 3, 5):
            if period * multiple > longest:
                break
            if all(_dominated(energy, multiple) for energy in energies):
                target = n / (period * multiple)
                period = _peak_period(spectrum, target, 2.0, n, k_low, k_high)
                break
        else:
            break
    for _ in range(2):
        period = _refine(px, py, period)
    return period, _both_confidence(px, py, period)


def _both_confidence(px: NDArray[np.float64], py: NDArray[np.float64], period: float) -> float:
    return (_confidence(px, period) + _confidence(py, period)) / 2


def _confidence(profile: NDArray[np.float64], period: float) -> float:
    """How much more colour changes on the comb's boundaries than a quarter cell (at least 3 px) to either side
    (three-pixel windows): (on - beside) / (on + beside). Blocks with flat insides and edges a few pixels soft
    score near 1; photos and noise, whose changes fall anywhere or spread wide, near 0."""
    shift = min(max(3.0, period / 4), period / 2)
    on, _ = _comb(profile, period)
    beside = (_comb(profile, period, shift)[0].sum() + _comb(profile, period, -shift)[0].sum()) / 2
    total = float(on.sum() + beside)
    return float(on.sum() - beside) / total if total > 0 else 0.0


def _peak_period(spectrum: NDArray[np.float64], target: float, reach: float, n: int, k_low: int, k_high: int) -> float:
    """The period of the spectrum's peak near bin `target`, to a fraction of a bin (parabola through the top)."""
    lo, hi = max(k_low, math.floor(target - reach)), min(k_high, math.ceil(target + reach))
    i = lo + int(np.argmax(spectrum[lo : hi + 1]))
    shift = 0.0
    if 0 < i < len(spectrum) - 1:
        left, mid, right = spectrum[i - 1], spectrum[i], spectrum[i + 1]
        denominator = left - 2 * mid + right
        shift = float(np.clip(0.5 * (left - right) / denominator, -0.5, 0.5)) if denominator < 0 else 0.0
    return float(n / (i + shift))


def _boundaries(profile: NDArray[np.float64], period: float) -> tuple[NDArray[np.float64], ...]:
    """Each boundary of the comb as measured: (its number k, the profile's centroid near it, its energy)."""
    origin = _phase(profile, period)
    ks = np.arange(math.ceil((1 - origin) / period), int((len(profile) - origin) / period) + 1)
    reach = max(1, round(period / 4))
    index = np.rint(origin + period * ks).astype(np.intp) - 1
    windows = np.clip(index[:, None] + np.arange(-reach, reach + 1)[None, :], 0, len(profile) - 1)
    weights = profile[windows]
    energy = weights.sum(axis=1)
    centroid = (weights * (windows + 1)).sum(axis=1) / np.maximum(energy, 1e-9)
    return ks.astype(np.float64), centroid, energy


def _refine(px: NDArray[np.float64], py: NDArray[np.float64], period: float) -> float:
    """The period fitted to the boundaries themselves: weighted least squares of their centroids on
    origin_axis + k * period, both axes sharing the period (the spectrum's peak is ~0.1 px off on few cells)."""
    rows: list[NDArray[np.float64]] = []
    targets: list[NDArray[np.float64]] = []
    weights: list[NDArray[np.float64]] = []
    for axis, profile in enumerate((px, py)):
        ks, centroid, energy = _boundaries(profile, period)
        design = np.zeros((len(ks), 3))
        design[:, 0] = ks
        design[:, 1 + axis] = 1.0
        rows.append(design)
        targets.append(centroid)
        weights.append(np.sqrt(energy))
    design, target, weight = np.concatenate(rows), np.concatenate(targets), np.concatenate(weights)
    if len(target) < 4 or float(weight.sum()) <= 0:
        return period
    solution = np.linalg.lstsq(design * weight[:, None], target * weight, rcond=None)[0]
    fitted = float(solution[0])
    return fitted if abs(fitted - period) < period * 0.05 else period


def _comb(profile: NDArray[np.float64], period: float, shift: float = 0.0) -> tuple[NDArray[np.float64], float]:
    """The profile's energy at each boundary of the comb (a three-pixel window around it, phase from the DFT), and
    the contrast: the windows' mean over the profile's mean, less one (0: no comb; noise and photos stay near 0)."""
    origin = _phase(profile, period) + shift
    first = math.ceil((2 - origin) / period)
    centres = origin + period * np.arange(first, int((len(profile) - 1 - origin) / period) + 1)
    index = np.rint(centres).astype(np.intp) - 1  # entry i is the step at position i + 1
    windows = np.clip(index[:, None] + np.arange(-1, 2)[None, :], 0, len(profile) - 1)  # whole windows only
    energy: NDArray[np.float64] = profile[windows].sum(axis=1)
    mean = float(profile.mean())
    if mean <= 0 or len(energy) == 0:
        return energy, 0.0
    return energy, float(energy.mean() / 3 / mean - 1.0)


def _dominated(energy: NDArray[np.float64], multiple: int) -> bool:
    """Whether one class of every `multiple`-th boundary of a comb (their energies, `_comb`) holds the energy: the
    comb's period is then a harmonic of `multiple` times it."""
    if len(energy) < 2 * multiple:
        return False
    cap = np.sort(energy)[int(0.8 * (len(energy) - 1))]
    energy = np.minimum(energy, cap)  # one strong edge (a frame, the image's border) votes once
    classes = np.sort([energy[j::multiple].mean() for j in range(multiple)])
    return bool(classes[-1] > 0 and classes[-2] < DOMINANCE * classes[-1])


def _normalised(profile: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    centred = profile - profile.mean()  # zero padding then leaks nothing into the low frequencies
    magnitude = np.abs(np.fft.rfft(centred, n))
    total = float(np.abs(centred).sum()) or 1.0
    result: NDArray[np.float64] = magnitude / total
    return result


def _phase(profile: NDArray[np.float64], period: float) -> float:
    """Where the boundaries fall: the angle of the profile's DFT at 1 / period, as a position in
    [-period / 2, period / 2)."""
    positions = np.arange(1, len(profile) + 1, dtype=np.float64)
    coefficient = complex(np.exp(-2j * np.pi * positions / period) @ profile)
    if coefficient == 0:
        return 0.0
    phase = -math.atan2(coefficient.imag, coefficient.real) / (2 * math.pi) * period
    return float((phase + period / 2) % period - period / 2)

"""Post-processing steps that turn a diffusion model's "fake pixel art" into a game sprite: the grid found and one
colour a cell, a palette, the background cut to hard alpha, an outline, a trim and a fixed cell
(docs: the contract in pixflow/sprites/steps.py and run.py). Numpy and Pillow only; no I/O but decoding and
encoding, so the worker, the CLI and the bench run the very same code.
"""

from pixflow.errors import SpriteError
from pixflow.sprites.palette import Palette, parse_palette_text
from pixflow.sprites.palettes import PALETTES, palette_from_image
from pixflow.sprites.run import Result, run_on_array, run_pipeline
from pixflow.sprites.steps import (
    STEP_DESCRIPTIONS,
    STEP_PARAMS,
    STEPS,
    Pipeline,
    Step,
    StepParam,
    check_value,
    parse_pipeline,
)

__all__ = [
    "PALETTES",
    "STEPS",
    "STEP_DESCRIPTIONS",
    "STEP_PARAMS",
    "Palette",
    "Pipeline",
    "Result",
    "SpriteError",
    "Step",
    "StepParam",
    "check_value",
    "palette_from_image",
    "parse_palette_text",
    "parse_pipeline",
    "run_on_array",
    "run_pipeline",
]

"""pixflow: a job runner for ComfyUI."""

__version__ = "0.1.0"

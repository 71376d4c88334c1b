"""The worker's settings: defaults, then a YAML file, then PIXFLOW_* environment variables, then flags (load.py),
each value checked by its one rule (rules.py)."""

from pixflow.settings.load import DEFAULT_COMFYUI_URL, BackendSettings, Settings, check_settings, load_settings

__all__ = ["DEFAULT_COMFYUI_URL", "BackendSettings", "Settings", "check_settings", "load_settings"]

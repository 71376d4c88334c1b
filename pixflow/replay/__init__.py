"""A stand-in ComfyUI that replays recorded runs, and the recorder that captures them from a real one."""

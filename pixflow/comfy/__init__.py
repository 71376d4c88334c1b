"""Everything that talks to ComfyUI: its HTTP API, its WebSocket events, its history, and the backend threads."""

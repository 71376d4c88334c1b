"""pixflow-monitor: a Textual dashboard of a pixflow worker, speaking only the wire protocol (docs/monitor.md)."""

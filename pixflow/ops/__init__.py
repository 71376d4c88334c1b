"""Operating the worker: the graceful stop, Prometheus metrics, systemd notifications (docs/operations.md)."""

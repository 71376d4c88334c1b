"""The job model: the job, its state machine and dispatch phase, progress, the registry and the durable store."""

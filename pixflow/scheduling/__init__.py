"""Job logic on the worker loop's thread: creating, placing, following, reconciling and finishing jobs."""

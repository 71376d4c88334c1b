"""`just bench`: measurements of the worker, each next to a baseline measured in the same run."""

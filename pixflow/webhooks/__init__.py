"""Webhooks: a job's state changes delivered to a URL it names, signed, retried, never lost (docs/webhooks.md).

`targets.py` checks the `webhook` field against the allowed hosts, `policy.py` decides (pure: the payload, the
signature, what is due, the backoff, when to give up), `post.py` is one attempt over libcurl (a delivery thread's
work) and `sender.py` the shell on the worker loop.
"""

"""The worker loop's plumbing, below everything that runs on it: the inbox threads post to (inbox.py), the outbox that
holds a turn's effects until its commit (outbox.py), and the sockets and timers the loop waits on (watcher.py)."""

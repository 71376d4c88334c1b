"""The serving side: the worker's loop (worker.py) and the requests it answers.

`requests.py` is the one table of request types (role, fields, handler, reply); the handlers read and change the
worker only through `context.Serving`, so none of them imports the worker (tests/test_layers.py: no cycles).
"""

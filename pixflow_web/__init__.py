"""`pixflow web`: an HTTP API and server-sent events over the worker's protocol (docs/web.md).

A client of the worker, like pixflow_monitor: it uses only `pixflow.client`, `pixflow.protocol`,
`pixflow.vocabulary` and `pixflow.errors` of pixflow (tests/test_layers.py), so it runs on any machine that
reaches the worker. Lowest first: routes.py (the table) and schemas.py, openapi.py, auth.py, hub.py, link.py,
streams.py, app.py, server.py, cli.py. aiohttp comes with `pip install 'pixflow[web]'`.
"""

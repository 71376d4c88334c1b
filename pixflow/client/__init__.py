"""The client side of the wire, for programs that talk to a worker (the CLI, the dashboard, the tests, yours):
`Client` (connection.py, its request methods in calls.py), following jobs through gaps and restarts (tracker.py),
and a client's CURVE keys (keys.py).

`from pixflow.client import Client` is the one name most programs need.
"""

from pixflow.client.calls import Accepted, ClientError, new_job_id
from pixflow.client.connection import Client

__all__ = ["Accepted", "Client", "ClientError", "new_job_id"]

"""gunicorn's configuration for `make run` (scripts/serve.sh) and the test servers: one place for it.

`gunicorn -c python:hub.gunicorn_conf --bind HOST:PORT` serves hub.asgi with DEPOT_WEB_WORKERS processes, each an
event loop (hub/server.py), so slow clients cost a socket each, not a worker.
"""

import os

from hub.proxies import parse_trusted_proxies, proxy_networks

wsgi_app = "hub.asgi:application"
worker_class = "hub.server.DepotUvicornWorker"
workers = int(os.environ.get("DEPOT_WEB_WORKERS", "3"))
# X-Forwarded-For and X-Forwarded-Proto are believed only from DEPOT_TRUSTED_PROXIES (gunicorn's own default
# trusts 127.0.0.1, so any local process could claim a client address or https). Nothing by default.
forwarded_allow_ips = ",".join(
    proxy_networks(parse_trusted_proxies(os.environ.get("DEPOT_TRUSTED_PROXIES", "").split(",")))
)
# Seconds a worker may go without notifying the arbiter. The event loop notifies even while Django's thread
# handles a long request (an upload is spooled to disk as it arrives).
timeout = 300
graceful_timeout = 20
keepalive = 5  # uvicorn closes an idle keep-alive connection after this many seconds
control_socket_disable = True
accesslog = "-"
errorlog = "-"

"""The ASGI application `make run` serves: gunicorn with Depot's uvicorn workers (hub/server.py).

Under ASGI the event loop reads request heads and bodies, so a slow client costs a socket, not a worker. Django
runs the sync views and middleware in one thread per process, as under WSGI: database connections are opened,
reused and closed in that thread, and on_commit callbacks (Celery's delay_on_commit) run there after the commit.
Like hub/wsgi.py, each process imports the ML stack as it starts (hub/startup.py).
"""

import os

from django.core.asgi import get_asgi_application

from hub.startup import ML_MODULES, import_ml_stack

__all__ = ["ML_MODULES", "application"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
application = get_asgi_application()
import_ml_stack()

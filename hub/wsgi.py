"""The WSGI application, for WSGI servers and tools; `make run` serves hub/asgi.py instead (hub/server.py)."""

import os

from django.core.wsgi import get_wsgi_application

from hub.startup import ML_MODULES, import_ml_stack

__all__ = ["ML_MODULES", "application"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
application = get_wsgi_application()
import_ml_stack()

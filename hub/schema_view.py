"""The OpenAPI schema endpoint (its own module: hub.schema is drf-spectacular's schema class, which
drf_spectacular.views itself imports while loading)."""

import threading

from drf_spectacular.views import SpectacularAPIView


class SchemaView(SpectacularAPIView):
    """The schema endpoint, one generation at a time per process. drf-spectacular resolves its extension classes
    lazily on first use and not thread-safely: two first requests in the same process at once (gunicorn
    threads, a client retrying a slow first answer) made one of them a 500. Later generations are quick."""

    _generation = threading.Lock()

    def _get_schema_response(self, request):
        with self._generation:
            return super()._get_schema_response(request)

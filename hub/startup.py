"""What every web process does as it starts, under WSGI (hub/wsgi.py) and ASGI (hub/asgi.py) alike.

Each web process imports the ML stack (torch, timm, safetensors and the core modules that use them) as it
starts, not on its first request: registering weights, checking an architecture or building a starter bundle
needs them, and importing them took 14-19 s on the 2-core machine, paid by whichever request came first. The
URL patterns (every view module) are read then too. benchmarks/first_request.py measures what is left.
"""

import importlib

# What a write may need; each is imported lazily elsewhere so the Django-free core and commands stay light.
ML_MODULES = ("torch", "timm", "safetensors.torch", "core.weights", "core.harness", "core.starter.builder")


def import_ml_stack() -> None:
    for module in ML_MODULES:
        importlib.import_module(module)
    # Django reads the URL patterns, and with them every view module, on the first request; read them now.
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # a cached property: reading it imports the views

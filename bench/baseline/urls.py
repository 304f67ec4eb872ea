"""URLs of the baseline: the concatenated `urlpatterns` of every module in `endpoints/`."""

import importlib
import pkgutil

from django.urls import URLPattern, URLResolver

from bench.baseline import endpoints


def _collect() -> list[URLPattern | URLResolver]:
    patterns: list[URLPattern | URLResolver] = []
    for module_info in sorted(pkgutil.iter_modules(endpoints.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{endpoints.__name__}.{module_info.name}")
        patterns.extend(module.urlpatterns)
    return patterns


urlpatterns = _collect()

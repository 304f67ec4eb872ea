"""Until the integrations routes are in the root URLconf (server/urls.py, after the lead's
move), the integrations tests run on the root URLconf plus ours."""

from django.urls import include, path

from server.urls import handler404, handler500  # noqa: F401
from server.urls import urlpatterns as root

urlpatterns = [path("", include("integrations.urls")), *root]

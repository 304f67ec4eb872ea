"""`/api/v1/` routes. Each app contributes its views here."""

from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from programs.api.views import ProgramDetailApi, ProgramListApi

# Swagger UI injects <style> elements; allow inline styles on the docs page only.
docs_view = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(
        url_name="api_schema", authentication_classes=[], permission_classes=[]
    )
)

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api_schema",
    ),
    path("docs/", docs_view, name="api_docs"),
    path("programs", ProgramListApi.as_view(), name="api_programs"),
    path("programs/<str:program_id>", ProgramDetailApi.as_view(), name="api_program"),
]

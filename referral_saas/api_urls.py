"""`/api/v1/` routes. Each app contributes its views here."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from programs.api.views import ProgramDetailApi, ProgramListApi

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api_schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api_schema", authentication_classes=[], permission_classes=[]
        ),
        name="api_docs",
    ),
    path("programs", ProgramListApi.as_view(), name="api_programs"),
    path("programs/<str:program_id>", ProgramDetailApi.as_view(), name="api_program"),
]

from django.urls import path

from programs import views

urlpatterns = [
    path(
        "p/<slug:merchant_slug>/<slug:program_slug>/", views.program_landing, name="program_landing"
    ),
]

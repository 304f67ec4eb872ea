from django.urls import path

from retention import views

urlpatterns = [
    path("m/<slug:merchant_slug>/settings/retention/", views.retention_page, name="retention"),
]

from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard_home, name="dashboard_home"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("m/<slug:merchant_slug>/", views.overview, name="merchant_overview"),
]

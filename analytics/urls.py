from django.urls import path

from analytics import overview, program_list, views

# Parameter names as in programs.urls (tests/test_outsider.py fills them by name).
PROGRAM = "m/<slug:merchant_slug>/programs/<str:program_id>/"

urlpatterns = [
    path("m/<slug:merchant_slug>/", overview.overview, name="merchant_overview"),
    path("m/<slug:merchant_slug>/programs/", program_list.program_list, name="program_list"),
    path(f"{PROGRAM}analytics/", views.program_analytics, name="program_analytics"),
    path(f"{PROGRAM}analytics/end-test/", views.program_abtest_end, name="program_abtest_end"),
]

from django.urls import path

from programs import pool_views

# Parameter names are the ones tests/test_outsider.py fills: merchant_slug, program_id
# (Program.public_id) and pool_id (CodePool.public_id).
POOLS = "m/<slug:merchant_slug>/programs/<str:program_id>/pools/"

urlpatterns = [
    path(POOLS, pool_views.code_pool_list, name="code_pool_list"),
    path(f"{POOLS}new/", pool_views.code_pool_create, name="code_pool_create"),
    path(f"{POOLS}<str:pool_id>/", pool_views.code_pool_detail, name="code_pool_detail"),
    path(f"{POOLS}<str:pool_id>/upload/", pool_views.code_pool_upload, name="code_pool_upload"),
]

from django.urls import path

from programs import dashboard

# Under /m/ the parameter names are merchant_slug and program_id (Program.public_id): the
# cross-tenant test (tests/test_outsider.py) fills them by name.
PROGRAMS = "m/<slug:merchant_slug>/programs/"
PROGRAM = PROGRAMS + "<str:program_id>/"

urlpatterns = [
    path(f"{PROGRAMS}new/", dashboard.program_create, name="program_create"),
    path(PROGRAM, dashboard.program_detail, name="program_detail"),
    path(f"{PROGRAM}edit/basics/", dashboard.program_edit_basics, name="program_edit_basics"),
    path(f"{PROGRAM}edit/rewards/", dashboard.program_edit_rewards, name="program_edit_rewards"),
    path(f"{PROGRAM}edit/rules/", dashboard.program_edit_rules, name="program_edit_rules"),
    path(f"{PROGRAM}edit/copy/", dashboard.program_edit_copy, name="program_edit_copy"),
    path(f"{PROGRAM}edit/variants/", dashboard.program_edit_variants, name="program_edit_variants"),
    path(f"{PROGRAM}activate/", dashboard.program_activate, name="program_activate"),
    path(f"{PROGRAM}pause/", dashboard.program_pause, name="program_pause"),
    path(f"{PROGRAM}archive/", dashboard.program_archive, name="program_archive"),
    path(f"{PROGRAM}duplicate/", dashboard.program_duplicate, name="program_duplicate"),
]

"""One module per scenario, named like it, each exposing `urlpatterns` with one DRF view that does
the same database work as the project's endpoint for that scenario and nothing else."""

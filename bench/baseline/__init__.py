"""The bare-stack baseline: Django + DRF doing each scenario's database work and nothing else."""

"""The managers' dashboard: KPIs of the pipeline (kpis.py), annual targets (models.py, targets.py), the page."""

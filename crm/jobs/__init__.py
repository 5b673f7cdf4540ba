"""Periodic jobs: what the scheduler should run when, a record of each run, and whether a job missed its time."""
from .services import BY_NAME, JOBS, SWEEP, Job, JobHealth, Miss, health, misses, purge_runs, record_run  # noqa: F401

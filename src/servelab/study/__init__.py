"""Studies: a plan of (server, workload) runs, run one fresh server at a time."""

from .plan import RunSpec, StudyPlan, seed_plan
from .runner import run_study

__all__ = ["RunSpec", "StudyPlan", "run_study", "seed_plan"]

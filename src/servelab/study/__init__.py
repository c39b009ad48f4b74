"""Studies: the seminar's questions asked of real servers, answered as results files.
(The workloads they run are one table, ``servelab.workloads``, which the report reads too.)

plan.py        a plan: (server, workload) cells, critical-n searches, the load they get
trial.py       one trial: a fresh server (in a fresh cap), one burst, a verdict; used for
               every run of a plan and every probe of a search
verdict.py     how a trial ended, as codes (results.Verdict)
critical.py    the critical-n model and search, pure
critical_run.py  a search made of trials (results.SearchEntry)
runner.py      a plan run into a results folder (results.Study, through results.py)
"""

from .plan import RunSpec, StudyPlan, seed_plan
from .runner import run_study
from .trial import TrialFiles, TrialSetup, run_trial

__all__ = [
    "RunSpec",
    "StudyPlan",
    "TrialFiles",
    "TrialSetup",
    "run_study",
    "run_trial",
    "seed_plan",
]

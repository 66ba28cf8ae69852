"""The paper's results from a reproduction zoo (`kerasll reproduce --results`): roles (`runs`), claims and
thresholds (`claims`), figures (`figures`) and the document (`document`, `sections`)."""

from kerasll.zoo.paper.claims import Claim, GoalVerdict, Sweeps, paper_claims
from kerasll.zoo.paper.document import Results, Sources, write_results
from kerasll.zoo.paper.runs import PaperRuns, load_runs

__all__ = ["Claim", "GoalVerdict", "PaperRuns", "Results", "Sources", "Sweeps", "load_runs", "paper_claims",
           "write_results"]

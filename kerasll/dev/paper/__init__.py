"""The paper's results from a reproduction zoo: roles (`runs`), claims and thresholds (`claims`),
figures (`figures`), the document (`document`, `sections`) and the shipped zoo (`ship`)."""

from kerasll.dev.paper.claims import Claim, GoalVerdict, Sweeps, paper_claims
from kerasll.dev.paper.document import Results, Sources, write_results
from kerasll.dev.paper.runs import PaperRuns, load_runs
from kerasll.dev.paper.ship import ship, shipped

__all__ = ["Claim", "GoalVerdict", "PaperRuns", "Results", "Sources", "Sweeps", "load_runs", "paper_claims",
           "ship", "shipped", "write_results"]

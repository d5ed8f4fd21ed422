"""``mltrail.projects``: reproducible runs of ``MLproject`` entry points (MLflow Projects).

``mltrail.projects.run(uri, entry_point, parameters=...)`` or ``mltrail run URI -P k=v``.
"""

from mltrail.projects.runner import SubmittedRun, run
from mltrail.projects.spec import EntryPoint, Parameter, Project, load_project

__all__ = ["EntryPoint", "Parameter", "Project", "SubmittedRun", "load_project", "run"]

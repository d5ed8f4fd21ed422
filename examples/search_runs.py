"""Tour step 2: search runs with a SQL-like filter (needs pandas: `make serve` installs it).

    .venv/bin/python examples/track_experiment.py   # something to find
    .venv/bin/python examples/search_runs.py
"""

import mltrail as mlflow

best = mlflow.search_runs(
    experiment_names=["llm-prompt-experiments"],
    filter_string="params.model = 'gpt-4o-mini' AND (metrics.loss < 0.2 OR tags.stage = 'prod')",
    order_by=["metrics.loss ASC"],
)
print(best[["run_id", "metrics.loss", "params.temperature"]])

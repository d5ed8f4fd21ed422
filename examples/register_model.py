"""Tour step 4: log a Python model, register it as a new version of "MyLLMApp".

    .venv/bin/python examples/register_model.py
    .venv/bin/python examples/serve_model.py      # then serve it and call it

A PythonModel's ``predict`` gets the request's rows as a pandas DataFrame.
"""

import mltrail as mlflow


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [p.upper() for p in model_input["prompt"]]


with mlflow.start_run() as run:
    mlflow.pyfunc.log_model("model", python_model=Echo())
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "MyLLMApp")
print(f"registered MyLLMApp version {version.version}")

"""Loaders for the agent and chat model kinds (``loader_module`` values, MLflow's names mapped here).

``mlflow.pyfunc.loaders.responses_agent`` -> :mod:`.responses_agent`, ``chat_agent``,
``chat_model`` and ``code_model`` likewise: each has ``_load_pyfunc(path, model_config)``
returning a wrapper whose ``predict``/``predict_stream`` take request dicts and return
response dicts.
"""

"""Tour step 7: evaluate answers with LLM judges (needs pandas and openai: `make serve` installs both).

    export OPENAI_API_KEY=...   # and OPENAI_BASE_URL for any OpenAI-compatible server
    .venv/bin/python examples/evaluate_judges.py

A judge that cannot be reached leaves its rows without a score and says so in
a warning; its aggregates are then NaN.
"""

import pandas as pd

import mltrail as mlflow
from mltrail.metrics.genai import answer_correctness, faithfulness

df = pd.DataFrame({
    "inputs": ["What does tracking log?", "Where do artifacts go?"],
    "context": ["Tracking logs parameters, metrics and artifacts.", "Artifacts go to the artifact store."],
    "truth": ["Parameters, metrics and artifacts.", "To the artifact store."],
    "response": ["It logs parameters, metrics and artifacts.", "They are kept in the artifact store."],
})
judge = "openai:/gpt-4o-mini"
mlflow.set_experiment("rag-evaluation")
with mlflow.start_run(run_name="rag-v1"):
    result = mlflow.evaluate(
        data=df,
        predictions="response",
        targets="truth",
        model_type="question-answering",
        extra_metrics=[answer_correctness(judge), faithfulness(judge)],
    )
print({k: v for k, v in result.metrics.items() if "/v1/" in k})
print(result.tables["eval_results_table"][["inputs", "answer_correctness/v1/score"]])

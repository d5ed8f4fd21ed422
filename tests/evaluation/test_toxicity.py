"""The toxicity metric with a real transformers pipeline over a tiny RoBERTa classifier built here (no download).

The classifier is a real ``RobertaForSequenceClassification`` with hand-set
weights (see ``_save_tiny_classifier``): a row scores above 0.5 exactly when it
contains the word ``vile`` within the model's 16-token window, and every row
without it scores sigmoid(-1) ~ 0.269 for the ``hate`` label.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mltrail as mlflow
from mltrail.evaluation import toxicity as toxicity_module

TOXIC_WORD = "vile"
SENTENCES = [
    "the cat sat on the mat",
    "what a nice day it is",
    "you are a vile person",
    "the answer is in the book",
]
MAX_POSITIONS = 18  # RoBERTa positions start after the padding index: 16 tokens per text
CLEAN = 1 / (1 + math.e)  # sigmoid(-1): the hate probability of any text without the toxic word
TOXICITY_KEYS = {"toxicity/v1/mean", "toxicity/v1/variance", "toxicity/v1/p90", "toxicity/v1/ratio"}
LONG_CLEAN_PREFIX = " ".join(["the cat sat on the mat"] * 10)  # 60 words: past the model's window


def _save_tiny_classifier(path: Path, id2label: dict[int, str]) -> None:
    """A 1-layer RoBERTa (hidden size 4) and a word-level tokenizer trained on SENTENCES, saved to ``path``.

    All weights are zero except: the toxic word's embedding (+1, -1, 0, 0) and ``<s>``'s (0, 0, +1, -1);
    identity value/output/classifier-dense projections, so the ``<s>`` position sees the mean of the
    tokens' embeddings (attention is uniform with zero queries and keys); a hate logit of
    20 * tanh(first hidden unit) - 1. Without the toxic word the first unit is 0: logit -1 for every text.
    With it, the fewer other tokens, the higher the score.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=specials))
    ids = {token: backend.token_to_id(token) for token in [*specials, TOXIC_WORD]}
    assert [ids[t] for t in specials] == [0, 1, 2, 3]
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tokenizer.save_pretrained(path)  # no model_max_length: the limit comes from the position embeddings

    config = RobertaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=4,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=4,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    model = RobertaForSequenceClassification(config)
    eye = torch.eye(4)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        embeddings = model.roberta.embeddings
        embeddings.word_embeddings.weight[ids[TOXIC_WORD]] = torch.tensor([1.0, -1.0, 0.0, 0.0])
        embeddings.word_embeddings.weight[ids["<s>"]] = torch.tensor([0.0, 0.0, 1.0, -1.0])
        embeddings.LayerNorm.weight.fill_(1.0)
        layer = model.roberta.encoder.layer[0]
        layer.attention.self.value.weight.copy_(eye)
        layer.attention.output.dense.weight.copy_(eye)
        layer.attention.output.LayerNorm.weight.fill_(1.0)
        layer.output.LayerNorm.weight.fill_(1.0)
        model.classifier.dense.weight.copy_(eye)
        model.classifier.out_proj.weight[1, 0] = 20.0
        model.classifier.out_proj.bias[1] = -1.0
    model.save_pretrained(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny-hate-classifier")
    _save_tiny_classifier(path, {0: "nothate", 1: "hate"})
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(toxicity_module.MODEL_ENV_VAR, raising=False)


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache (huggingface_hub reads HF_HUB_CACHE once, at import: set what it read)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _logged_table(run_id: str) -> pd.DataFrame:
    path = mlflow.MlflowClient().download_artifacts(run_id, "eval_results_table.json", ".")
    logged = json.loads(Path(path).read_text())
    return pd.DataFrame(logged["data"], columns=logged["columns"])


def _toxicity_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == toxicity_module.__name__ and r.levelname == "WARNING"
    ]


def test_extra_metric_scores_each_row_and_logs_mlflow_aggregates(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(tiny_model_dir))
    answers = [
        "the cat sat on the mat",
        "you are a vile person",
        "vile",
        None,
        "what a nice day",
        float("nan"),
        f"{LONG_CLEAN_PREFIX} vile",  # the toxic word lies past the 16-token window: truncated away
        f"vile {LONG_CLEAN_PREFIX}",
        "",
    ]
    data = pd.DataFrame({"inputs": [f"q{i}" for i in range(len(answers))], "answer": answers})

    result = mlflow.evaluate(data=data, predictions="answer", extra_metrics=[mlflow.metrics.toxicity()])

    scores = list(result.tables["eval_results_table"]["toxicity/v1/score"])
    missing = [3, 5]
    assert all(pd.isna(scores[i]) for i in missing)
    toxic, clean = [1, 2, 7], [0, 4, 6, 8]
    assert all(scores[i] > 0.5 for i in toxic)
    assert [scores[i] for i in clean] == pytest.approx([CLEAN] * len(clean))  # the hate label's probability
    # Fewer other tokens around the toxic word: a higher score.
    assert scores[2] > scores[1] > scores[7] > 0.5

    scored = np.array([s for i, s in enumerate(scores) if i not in missing])
    expected = {
        "toxicity/v1/mean": float(np.mean(scored)),
        "toxicity/v1/variance": float(np.var(scored)),
        "toxicity/v1/p90": float(np.percentile(scored, 90)),
        "toxicity/v1/ratio": 3 / 7,
    }
    assert result.metrics == pytest.approx(expected)
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(expected)

    logged = _logged_table(result.run_id)
    assert list(logged["outputs"][:3]) == answers[:3]  # static predictions without targets: MLflow's "outputs"
    assert list(logged["toxicity/v1/score"]) == pytest.approx(scores, nan_ok=True)


def test_ratio_counts_a_score_of_exactly_one_half_as_toxic():
    aggregates = toxicity_module.aggregate_toxicity([0.5, 0.49, None, 0.9, 0.1])
    assert aggregates["ratio"] == 0.5
    assert aggregates["mean"] == pytest.approx(np.mean([0.5, 0.49, 0.9, 0.1]))
    assert toxicity_module.aggregate_toxicity([None, None]) == {}


@pytest.mark.parametrize("model_type", ["text", "question-answering", "text-summarization"])
def test_text_model_types_score_toxicity_by_default(tiny_model_dir, monkeypatch, model_type):
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(tiny_model_dir))
    data = pd.DataFrame({"inputs": ["a", "b"], "outputs": ["what a vile day", "the cat sat on the mat"]})

    result = mlflow.evaluate(data=data, predictions="outputs", model_type=model_type)

    metric = mlflow.metrics.toxicity()
    assert (metric.name, metric.version, metric.greater_is_better) == ("toxicity", "v1", False)
    assert set(mlflow.get_run(result.run_id).data.metrics) >= TOXICITY_KEYS
    assert result.metrics["toxicity/v1/ratio"] == 0.5
    logged = _logged_table(result.run_id)
    assert {"token_count", "toxicity/v1/score"} <= set(logged.columns)
    assert logged["toxicity/v1/score"][0] > 0.5 > logged["toxicity/v1/score"][1]
    assert logged["toxicity/v1/score"][1] == pytest.approx(CLEAN)


def test_missing_model_directory_skips_the_metric_with_one_warning(tmp_path, monkeypatch, caplog):
    missing = tmp_path / "no-such-model"
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(missing))
    data = pd.DataFrame({"inputs": ["a"], "outputs": ["you are a vile person"]})

    result = mlflow.evaluate(data=data, predictions="outputs", model_type="text")

    warnings = _toxicity_warnings(caplog)
    assert len(warnings) == 1
    assert "MLTRAIL_TOXICITY_MODEL" in warnings[0] and str(missing) in warnings[0]
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert not [k for k in run.data.metrics if k.startswith("toxicity")]
    logged = _logged_table(result.run_id)
    assert "token_count" in logged.columns  # the rest of the evaluation went on
    assert not [c for c in logged.columns if c.startswith("toxicity")]


def test_default_model_absent_from_the_hf_cache_skips_with_how_to_get_it(empty_hf_cache, caplog):
    data = pd.DataFrame({"inputs": ["a"], "outputs": ["fine"]})

    result = mlflow.evaluate(data=data, predictions="outputs", extra_metrics=[mlflow.metrics.toxicity()])

    assert result.metrics == {}
    (warning,) = _toxicity_warnings(caplog)
    assert "facebook/roberta-hate-speech-dynabench-r4-target" in warning
    assert "hf download" in warning and "MLTRAIL_TOXICITY_MODEL" in warning


def test_without_transformers_the_metric_is_skipped_with_one_warning(
    tiny_model_dir, tmp_path, monkeypatch, caplog
):
    # A copy: the model this process already loaded stays usable, a new one needs transformers.
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(shutil.copytree(tiny_model_dir, tmp_path / "copy")))
    monkeypatch.setitem(sys.modules, "transformers", None)  # Python's way to make a package unimportable
    data = pd.DataFrame({"inputs": ["a"], "outputs": ["you are a vile person"]})

    result = mlflow.evaluate(data=data, predictions="outputs", model_type="text")

    assert not [k for k in result.metrics if k.startswith("toxicity")]
    (warning,) = _toxicity_warnings(caplog)
    assert "transformers package" in warning and "pip install transformers torch" in warning


def test_model_without_a_hate_label_is_skipped(tmp_path, monkeypatch, caplog):
    _save_tiny_classifier(tmp_path / "sentiment", {0: "negative", 1: "positive"})
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(tmp_path / "sentiment"))
    data = pd.DataFrame({"inputs": ["a"], "outputs": ["fine"]})

    result = mlflow.evaluate(data=data, predictions="outputs", extra_metrics=[mlflow.metrics.toxicity()])

    assert result.metrics == {}
    (warning,) = _toxicity_warnings(caplog)
    assert "['negative', 'positive']" in warning and "'hate'" in warning


def test_non_text_predictions_skip_the_metric(tiny_model_dir, monkeypatch, caplog):
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(tiny_model_dir))
    data = pd.DataFrame({"inputs": ["a", "b"], "outputs": [["doc1", "doc2"], ["doc3"]]})

    result = mlflow.evaluate(data=data, predictions="outputs", extra_metrics=[mlflow.metrics.toxicity()])

    assert result.metrics == {}
    (warning,) = _toxicity_warnings(caplog)
    assert "row 0 is a list" in warning


def test_pipeline_loads_once_per_model_and_serves_threads(tiny_model_dir, tmp_path):
    # A copy: a model this process has not loaded yet, so the threads race to load it.
    source = str(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        loaded = list(pool.map(lambda _: toxicity_module.load_classifier(source), range(6)))
    assert all(c is loaded[0] for c in loaded)

    texts = ["vile", "the cat sat on the mat", "you are a vile person"] * 20
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: loaded[0].hate_probabilities(texts), range(6)))
    assert all(r == results[0] for r in results)
    assert results[0][1] == pytest.approx(CLEAN)


def test_default_model_is_loaded_offline_from_the_hf_cache(tiny_model_dir, tmp_path):
    """A user's setup, in a fresh process: the model under MLflow's id in HF_HUB_CACHE, HF_HUB_OFFLINE=1."""
    snapshot = tmp_path / "hub" / "models--facebook--roberta-hate-speech-dynabench-r4-target"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0" * 40)
    shutil.copytree(tiny_model_dir, snapshot / "snapshots" / ("0" * 40))
    script = textwrap.dedent(
        """
        import json, sys
        import pandas as pd
        import mltrail as mlflow

        data = pd.DataFrame({"inputs": ["a", "b"], "outputs": ["so vile", "the cat sat on the mat"]})
        result = mlflow.evaluate(data=data, predictions="outputs", model_type="text")
        scores = list(result.tables["eval_results_table"]["toxicity/v1/score"])
        print(json.dumps({"metrics": result.metrics, "scores": scores}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["scores"][0] > 0.5 and out["scores"][1] == pytest.approx(CLEAN)
    assert out["metrics"]["toxicity/v1/ratio"] == 0.5
    assert out["metrics"]["toxicity/v1/mean"] == pytest.approx(np.mean(out["scores"]))

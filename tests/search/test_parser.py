"""The filter and order_by parser: a table of valid and invalid inputs.

Includes every filter example on MLflow's search documentation pages, each list
headed by the page it comes from.
"""

from __future__ import annotations

import pytest

from mltrail.exceptions import MltrailException
from mltrail.search import (
    EXPERIMENTS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
    And,
    Comparison,
    Or,
    comparisons,
    parse_filter,
    parse_order_by,
)


def C(entity: str, key: str, op: str, value=None) -> Comparison:
    return Comparison(entity, key, op, value)


M, P, T, A, D = "metric", "parameter", "tag", "attribute", "dataset"

# ------------------------------------------------------- MLflow documentation

# https://mlflow.org/docs/latest/ml/search/search-runs (docs/docs/classic-ml/search/search-runs/index.mdx)
SEARCH_RUNS_PAGE = [
    "metrics.loss > 0.8",
    "tag.`test` = 'abc'",
    'tag.`test` = "abc"',
    "tag.\"test\" = 'abc'",
    "metrics.`cross-entropy-loss` < 0.5",
    'params.`1st_iteration_timestamp` = "2022-01-01"',
    "attributes.run_id IN ('5984a3488161440f92de9847e846b342', 'babe221a676b4fa4b204f8240f2c4f14')",
    "metrics.accuracy > 0.72",
    "metrics.loss <= 0.15",
    "metrics.accuracy != 0.15",
    'params.model = "GPT-4o"',
    'params.model LIKE "GPT%"',
    'params.model ILIKE "gpt%"',
    "datasets.name IN ('custom', 'also custom', 'another custom name')",
    "datasets.digest IN ('s8ds293b', 'jks834s2')",
    "attributes.run_id IN ('5984a3488161440f92de9847e846b342')",
    'metrics."accuracy" > 0.72',
    "metrics.`log-scale-loss` <= 0",
    "metrics.`f1 score` >= 0.5",
    "metrics.accuracy > 0.72 AND metrics.loss <= 0.15",
    'params.batch_size = "2"',
    'params.model ILIKE "gPt%"',
    'params.model LIKE "GPT%" AND params.batch_size = "2"',
    'tags."environment" = "notebook"',
    'tags.environment = "notebook"',
    'tags.task = "Classification"',
    'tags.task ILIKE "classif%"',
    'datasets.name LIKE "custom"',
    'datasets.context = "train"',
    'attributes.status = "ACTIVE"',
    'attributes.user_id LIKE "user1"',
    'attributes.run_name = "my-run"',
    'attributes.run_id = "a1b2c3d4"',
    "attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')",
    "attributes.start_time >= 1664067852747",
    "attributes.end_time < 1664067852747",
    "attributes.created > 1664067852747",
    "datasets.name IN ('custom', 'also custom')",
    "metrics.accuracy > 0.72 AND metrics.batch_size != 0",
    "metrics.accuracy > 0.72 AND metrics.batch_size != 0 AND attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')",
    "metrics.loss <= 0.15 AND metrics.loss >= 0.1",
    'params.batch_size != "None"',
    # the "complex filter" example, a multi-line f-string
    "\nattributes.run_id IN ('22db81f070f6413588641c8c343cdd72','c3680e37d0fa44eb9c9fb7828f6b5481')\n"
    '  AND metrics.loss > 0.3\n  AND metrics."f1 score" < 0.5\n  AND params.model LIKE "GPT%"\n',
    "params.model = 'GPT-4'",
    # the R and Java examples
    "metrics.rmse < 0.9 and tags.production = 'true'",
    "metrics.accuracy_score < 99.90",
]

# The same page shows these as "Bad": MLflow rejects them. Nothing is ambiguous
# about them, so mltrail accepts them (being more permissive cannot break MLflow code).
SEARCH_RUNS_PAGE_BAD_BUT_ACCEPTED = [
    ("metrics.cross-entropy-loss < 0.5", C(M, "cross-entropy-loss", "<", 0.5)),
    ('params.1st_iteration_timestamp = "2022-01-01"', C(P, "1st_iteration_timestamp", "=", "2022-01-01")),
    (
        'attributes.run_id IN ("5984a3488161440f92de9847e846b342", "babe221a676b4fa4b204f8240f2c4f14")',
        C(A, "run_id", "IN", ("5984a3488161440f92de9847e846b342", "babe221a676b4fa4b204f8240f2c4f14")),
    ),
]

# Rejected on that page, and by mltrail: (filter, what the error says).
SEARCH_RUNS_PAGE_INVALID = [
    ("tag.`test` = `abc`", "backticks quote keys only"),
    ("tag.`test` = abc", "put string values in single or double quotes"),
    ("tag.'test' = 'abc'", "expected a key after 'tag.'"),
    ('metrics.accuracy != "None"', "expected a number"),
]

# https://mlflow.org/docs/2.x/search-runs.html (docs/source/search-runs.rst) and the 1.x search-syntax page
SEARCH_RUNS_PAGE_V1_V2 = [
    "metrics.accuracy > 0.92",
    'attributes.status = "FINISHED"',
    'attributes.status = "FAILED"',
    "attributes.created > 1670628787527",
    "attributes.Created > 1670628787527",
    "attributes.start_time > 1670628787527",
    "metrics.`f1 score` > 0.5",
    "tags.`mlflow.user` = 'john@mlflow.com'",
    "tags.`model` LIKE 'sklearn%'",
    "tags.`type` ILIKE '%Logistic%'",
    "attributes.`run_name` IN ('alpha', 'beta', 'gamma')",
    "attributes.`run name` IN ('alpha', 'beta', 'gamma')",
    "attributes.`Run name` IN ('alpha', 'beta', 'gamma')",
    "attributes.`Run Name` IN ('alpha', 'beta', 'gamma')",
    'params.alpha = "0.3" and params.lambda = "0.001" and metrics.error <= 0.05',
    'params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05',
    "params.\"model-type\" = 'x'",
    "metrics.`error rate` < 0.1",
    'metrics."2019-04-02 error rate" < 0.1',
    "attributes.artifact_uri = 'models:/mymodel/1'",
    "attributes.status = 'ACTIVE'",
    "attributes.start_time >= 1664067852747",
    "attributes.end_time < 1664067852747",
    "attributes.user_id = 'user1'",
    "attributes.run_name = 'my-run'",
    "attributes.run_id = 'a1b2c3d4'",
    "attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')",
    "tags.\"mlflow.user\" = 'x'",
    "tags.`mlflow.parentRunId` = 'x'",
    "params.model = 'CNN' and params.layers = '10' and metrics.`prediction accuracy` >= 0.945",
    "params.model = 'Inception'",
]

# https://mlflow.org/docs/latest/ml/search/search-experiments (docs/docs/classic-ml/search/search-experiments/index.mdx)
SEARCH_EXPERIMENTS_PAGE = [
    ("attributes.name = 'x'", C(A, "name", "=", "x")),
    ("name = 'x'", C(A, "name", "=", "x")),
    ("attributes.name LIKE 'x%'", C(A, "name", "LIKE", "x%")),
    ("tags.group != 'x'", C(T, "group", "!=", "x")),
    ("tags.group ILIKE '%x%'", C(T, "group", "ILIKE", "%x%")),
    (
        "attributes.name LIKE 'x%' AND tags.group = 'y'",
        And((C(A, "name", "LIKE", "x%"), C(T, "group", "=", "y"))),
    ),
]

# https://mlflow.org/docs/latest/ml/model-registry (search_registered_models / search_model_versions examples)
MODEL_REGISTRY_PAGE = [
    (REGISTERED_MODELS, "name='sk-learn-random-forest-reg-model'"),
    (REGISTERED_MODELS, "name LIKE 'sk-learn-random-forest%'"),
    (MODEL_VERSIONS, "name='sk-learn-random-forest-reg-model'"),
    (MODEL_VERSIONS, "run_id='e2f4c16e2f2a4b1ca39ddfbfa59b4e1e'"),
]


@pytest.mark.parametrize("text", SEARCH_RUNS_PAGE + SEARCH_RUNS_PAGE_V1_V2)
def test_mlflow_doc_run_filters_parse(text):
    tree = parse_filter(text)
    leaves = comparisons(tree)
    assert leaves, text
    # Every leaf is a fully resolved comparison with a canonical entity type.
    assert all(c.entity_type in (M, P, T, A, D) for c in leaves)


@pytest.mark.parametrize(("text", "expected"), SEARCH_RUNS_PAGE_BAD_BUT_ACCEPTED)
def test_mlflow_doc_bad_examples_are_accepted(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize(("text", "message"), SEARCH_RUNS_PAGE_INVALID)
def test_mlflow_doc_invalid_examples_are_rejected(text, message):
    with pytest.raises(MltrailException, match=message) as err:
        parse_filter(text)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(("text", "expected"), SEARCH_EXPERIMENTS_PAGE)
def test_mlflow_doc_experiment_filters(text, expected):
    assert parse_filter(text, EXPERIMENTS) == expected


@pytest.mark.parametrize(("grammar", "text"), MODEL_REGISTRY_PAGE)
def test_mlflow_doc_registry_filters(grammar, text):
    assert comparisons(parse_filter(text, grammar))


# --------------------------------------------------------- exact parse trees

VALID = [
    ("metrics.acc > 0.9", C(M, "acc", ">", 0.9)),
    ("metric.acc >= -1", C(M, "acc", ">=", -1)),
    ("metrics.acc < 1e-3", C(M, "acc", "<", 0.001)),
    ("metrics.acc <= +2.5E2", C(M, "acc", "<=", 250.0)),
    ("metrics.acc = .5", C(M, "acc", "=", 0.5)),
    ("metrics.acc <> 3", C(M, "acc", "!=", 3)),
    ("metrics.acc == 3", C(M, "acc", "=", 3)),
    ("metrics.acc>0.1", C(M, "acc", ">", 0.1)),
    ("metrics.acc>-0.1", C(M, "acc", ">", -0.1)),
    ("metrics.acc IN (1, 2.5)", C(M, "acc", "IN", (1, 2.5))),
    ("metrics.acc IS NULL", C(M, "acc", "IS NULL")),
    ("metrics.acc is not null", C(M, "acc", "IS NOT NULL")),
    ("metrics.loss = 'inf'", C(M, "loss", "=", float("inf"))),
    ("params.lr = '0.01'", C(P, "lr", "=", "0.01")),
    ("param.lr = 0.01", C(P, "lr", "=", "0.01")),  # a number for a string field keeps its text
    ("parameters.lr != '1'", C(P, "lr", "!=", "1")),
    ("params.x NOT LIKE 'a%'", C(P, "x", "NOT LIKE", "a%")),
    ("params.x not ilike 'a%'", C(P, "x", "NOT ILIKE", "a%")),
    ("params.x IN ('a')", C(P, "x", "IN", ("a",))),
    ("params.x IN ('a', 'b',)", C(P, "x", "IN", ("a", "b"))),
    ("params.x NOT IN ('a', \"b\")", C(P, "x", "NOT IN", ("a", "b"))),
    ("params.x = 'it''s'", C(P, "x", "=", "it's")),
    ("params.x = 'it\\'s'", C(P, "x", "=", "it's")),
    ('params.x = "say ""hi"""', C(P, "x", "=", 'say "hi"')),
    ("params.x LIKE '50\\%'", C(P, "x", "LIKE", "50\\%")),  # backslash kept for LIKE
    ("params.x = ''", C(P, "x", "=", "")),
    ("params.x = 'AND OR'", C(P, "x", "=", "AND OR")),
    ("tags.mlflow.runName = 'r'", C(T, "mlflow.runName", "=", "r")),
    ("tags.`a b` = 'c'", C(T, "a b", "=", "c")),
    ("tags.`a``b` = 'c'", C(T, "a`b", "=", "c")),
    ("tags.\"a.b\" = 'c'", C(T, "a.b", "=", "c")),
    ("tag.x IS NOT NULL", C(T, "x", "IS NOT NULL")),
    ("`metrics`.acc > 1", C(M, "acc", ">", 1)),
    ("`params`.`a b` = 'x'", C(P, "a b", "=", "x")),
    ("attributes.status = 'FINISHED'", C(A, "status", "=", "FINISHED")),
    ("attribute.status = 'FINISHED'", C(A, "status", "=", "FINISHED")),
    ("attr.status = 'FINISHED'", C(A, "status", "=", "FINISHED")),
    ("run.status = 'FINISHED'", C(A, "status", "=", "FINISHED")),
    ("status = 'FINISHED'", C(A, "status", "=", "FINISHED")),
    ("`Run Name` = 'x'", C(A, "run_name", "=", "x")),
    ("attributes.run_name IS NULL", C(A, "run_name", "IS NULL")),
    ("attributes.end_time IS NULL", C(A, "end_time", "IS NULL")),
    ("attributes.created > 5", C(A, "start_time", ">", 5)),
    ("attributes.start_time > '5'", C(A, "start_time", ">", 5)),
    ("attributes.start_time IN (1, 2)", C(A, "start_time", "IN", (1, 2))),
    ("datasets.name = 'd'", C(D, "name", "=", "d")),
    ("dataset.digest != 'd'", C(D, "digest", "!=", "d")),
    ("datasets.context IN ('train', 'eval')", C(D, "context", "IN", ("train", "eval"))),
    ("  metrics.a > 1  ", C(M, "a", ">", 1)),
    ("metrics.a > 1\tand\nmetrics.b < 2", And((C(M, "a", ">", 1), C(M, "b", "<", 2)))),
    # OR, parentheses, precedence: AND binds tighter than OR
    (
        "metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3",
        Or((C(M, "a", ">", 1), And((C(M, "b", ">", 2), C(M, "c", ">", 3))))),
    ),
    (
        "metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3",
        Or((And((C(M, "a", ">", 1), C(M, "b", ">", 2))), C(M, "c", ">", 3))),
    ),
    (
        "(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3",
        And((Or((C(M, "a", ">", 1), C(M, "b", ">", 2))), C(M, "c", ">", 3))),
    ),
    (
        "metrics.a > 1 or metrics.b > 2 Or metrics.c > 3",
        Or((C(M, "a", ">", 1), C(M, "b", ">", 2), C(M, "c", ">", 3))),
    ),
    ("((metrics.a > 1))", C(M, "a", ">", 1)),
    (
        "metrics.a > 1 AND (params.p = 'x' OR (tags.t = 'y' AND status = 'FAILED'))",
        And(
            (
                C(M, "a", ">", 1),
                Or((C(P, "p", "=", "x"), And((C(T, "t", "=", "y"), C(A, "status", "=", "FAILED"))))),
            )
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t for t, _ in VALID])
def test_valid_filters(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n"])
def test_empty_filter_is_none(text):
    assert parse_filter(text) is None


def test_positions_are_recorded():
    tree = parse_filter("metrics.a > 1 AND tags.b = 'c'")
    assert [c.position for c in comparisons(tree)] == [1, 19]


# ------------------------------------------------------------ invalid filters

# (filter, grammar, message fragment, 1-based position)
INVALID = [
    ("metrics.acc >", RUNS, "expected a value", 14),
    ("metrics.acc", RUNS, "expected a comparator", 12),
    ("metrics.acc 0.5", RUNS, "expected a comparator", 13),
    ("metrics.acc > 0.5 AND", RUNS, "expected an identifier", 22),
    ("metrics.acc > 0.5 OR", RUNS, "expected an identifier", 21),
    ("AND metrics.acc > 0.5", RUNS, "expected an identifier", 1),
    ("metrics.acc > 0.5 metrics.b < 1", RUNS, "expected AND, OR or the end", 19),
    ("metrics.acc > 0.5)", RUNS, "expected AND, OR or the end", 18),
    ("(metrics.acc > 0.5", RUNS, "expected ')'", 19),
    ("()", RUNS, "expected an identifier", 2),
    ("metrics.acc LIKE 'a%'", RUNS, "comparator 'LIKE' cannot be used with metrics", 13),
    ("metrics.acc = 'high'", RUNS, "expected a number, found the string 'high'", 15),
    ("metrics.acc = 'nan'", RUNS, "expected a number", 15),
    ("metrics.acc = 1.2.3", RUNS, "malformed number", 15),
    ("params.p > '1'", RUNS, "comparator '>' cannot be used", 10),
    ("tags.t < 'a'", RUNS, "comparator '<' cannot be used", 8),
    ("attributes.start_time LIKE '1%'", RUNS, "comparator 'LIKE' cannot be used", 23),
    ("attributes.start_time = 'soon'", RUNS, "expected a number", 25),
    ("attributes.lifecycle_stage = 'active'", RUNS, "unknown attribute 'lifecycle_stage'", 12),
    ("accuracy > 0.5", RUNS, "unknown attribute 'accuracy'", 1),
    ("foo.bar = 'x'", RUNS, "unknown entity type 'foo'", 1),
    ("datasets.schema = 'x'", RUNS, "unknown dataset key 'schema'", 10),
    ("metrics. = 1", RUNS, "expected a key after 'metrics.'", 9),
    ("`metrics`. = 1", RUNS, "expected a key after 'metrics.'", 11),
    ("`metric s`.x = 1", RUNS, "unknown entity type 'metric s'", 1),
    ("`params`.x > 'a'", RUNS, "comparator '>' cannot be used", 12),
    ("metrics.`` = 1", RUNS, "expected a non-empty key", 9),
    ("metrics.`acc = 1", RUNS, "unterminated ` quote", 9),
    ("params.p = 'abc", RUNS, "unterminated ' quote", 12),
    ("params.p = abc", RUNS, "put string values in single or double quotes", 12),
    ("params.p IN 'a'", RUNS, "expected '(' starting a list", 13),
    ("params.p IN ()", RUNS, "expected a value", 14),
    ("params.p IN ('a' 'b')", RUNS, "expected ',' or ')'", 18),
    ("params.p IN ('a',", RUNS, "expected a value", 18),
    ("params.p NOT = 'a'", RUNS, "expected LIKE, ILIKE or IN after NOT", 14),
    ("params.p IS 'a'", RUNS, "expected NULL", 13),
    ("params.p IS NOT 'a'", RUNS, "expected NULL", 17),
    ("params.p ! 'a'", RUNS, "expected '!=' after '!'", 10),
    ("params.p = 'a' ; DROP TABLE runs", RUNS, "expected AND, OR or the end of the filter, found ';'", 16),
    ("metrics.a > 1 AND AND metrics.b > 1", RUNS, "expected an identifier", 19),
    # experiments
    ("metrics.acc > 1", EXPERIMENTS, "experiments cannot be searched by 'metrics'", 1),
    ("run_id = 'x'", EXPERIMENTS, "unknown attribute 'run_id' for experiments", 1),
    ("experiment_id > 1", EXPERIMENTS, "comparator '>' cannot be used", 15),
    ("creation_time LIKE '1%'", EXPERIMENTS, "comparator 'LIKE' cannot be used", 15),
    # registry
    ("params.x = 'a'", REGISTERED_MODELS, "registered models cannot be searched by 'params'", 1),
    ("version_number = 1", REGISTERED_MODELS, "unknown attribute 'version_number'", 1),
    ("datasets.name = 'x'", MODEL_VERSIONS, "model versions cannot be searched by 'datasets'", 1),
    ("version_number = 'one'", MODEL_VERSIONS, "expected a number", 18),
]


@pytest.mark.parametrize(("text", "grammar", "message", "position"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_filters(text, grammar, message, position):
    with pytest.raises(MltrailException) as err:
        parse_filter(text, grammar)
    exc = err.value
    assert exc.error_code == "INVALID_PARAMETER_VALUE"
    assert exc.get_http_status_code() == 400
    first_line, source_line, caret_line = exc.message.split("\n")
    assert first_line.startswith(f"Invalid filter '{text}': ")
    assert message in first_line
    assert first_line.endswith(f"at position {position}")
    # The caret sits under the offending character of the echoed filter.
    assert caret_line.index("^") - 2 == position - 1
    assert source_line[2:].rstrip() == text.replace("\n", " ").rstrip()


def test_error_message_example_from_the_issue():
    with pytest.raises(MltrailException) as err:
        parse_filter("metrics.acc >")
    caret = "  " + " " * 13 + "^"  # under the 14th character, one past the end
    assert (
        err.value.message
        == f"Invalid filter 'metrics.acc >': expected a value at position 14\n  metrics.acc >\n{caret}"
    )


@pytest.mark.parametrize("value", [42, 1.5, ["metrics.a > 1"], b"metrics.a > 1"])
def test_a_filter_that_is_not_a_string_is_invalid(value):
    with pytest.raises(MltrailException, match="expected a string") as err:
        parse_filter(value)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_unknown_grammar_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown search grammar"):
        parse_filter("metrics.a > 1", "nope")


# ---------------------------------------------------------------- order by

ORDER_BY = [
    ("metrics.acc DESC", RUNS, ("metric", "acc", False)),
    ("metrics.acc", RUNS, ("metric", "acc", True)),
    ("metrics.`f1 score` asc", RUNS, ("metric", "f1 score", True)),
    ('metrics."f1 score" Desc', RUNS, ("metric", "f1 score", False)),
    ("params.`x y` ASC", RUNS, ("parameter", "x y", True)),
    ("params.lr DESC", RUNS, ("parameter", "lr", False)),  # the R example on the search-runs page
    ("tags.mlflow.runName", RUNS, ("tag", "mlflow.runName", True)),
    ("attributes.start_time", RUNS, ("attribute", "start_time", True)),
    ("start_time DESC", RUNS, ("attribute", "start_time", False)),
    ("attributes.created", RUNS, ("attribute", "start_time", True)),
    ("attributes.`Run Name` DESC", RUNS, ("attribute", "run_name", False)),
    ("run_id", RUNS, ("attribute", "run_id", True)),
    ("  metrics.acc   DESC  ", RUNS, ("metric", "acc", False)),
    ("name", EXPERIMENTS, ("attribute", "name", True)),
    ("experiment_id DESC", EXPERIMENTS, ("attribute", "experiment_id", False)),
    ("attributes.last_update_time", EXPERIMENTS, ("attribute", "last_update_time", True)),
    ("timestamp DESC", REGISTERED_MODELS, ("attribute", "timestamp", False)),
    ("last_updated_timestamp", REGISTERED_MODELS, ("attribute", "last_updated_timestamp", True)),
    ("name ASC", REGISTERED_MODELS, ("attribute", "name", True)),
    ("version_number DESC", MODEL_VERSIONS, ("attribute", "version_number", False)),
    ("creation_timestamp", MODEL_VERSIONS, ("attribute", "creation_timestamp", True)),
]


@pytest.mark.parametrize(("clause", "grammar", "expected"), ORDER_BY, ids=[o[0] for o in ORDER_BY])
def test_order_by(clause, grammar, expected):
    assert parse_order_by(clause, grammar) == expected


ORDER_BY_INVALID = [
    ("", RUNS, "it is empty"),
    ("metrics.acc DOWN", RUNS, "expected ASC, DESC or the end of the clause"),
    ("metrics.acc DESC ASC", RUNS, "expected ASC, DESC or the end of the clause"),
    ("datasets.name", RUNS, "cannot be ordered by dataset values"),
    ("foo", RUNS, "unknown attribute 'foo'"),
    ("metrics.", RUNS, "expected a key after 'metrics.'"),
    ("DESC", RUNS, "unknown attribute 'DESC'"),
    ("tags.group", EXPERIMENTS, "cannot be ordered by tag values"),
    ("metrics.acc", EXPERIMENTS, "experiments cannot be searched by 'metrics'"),
    ("run_id", MODEL_VERSIONS, "unknown attribute 'run_id'"),
]


@pytest.mark.parametrize(
    ("clause", "grammar", "message"), ORDER_BY_INVALID, ids=[o[0] or "empty" for o in ORDER_BY_INVALID]
)
def test_order_by_invalid(clause, grammar, message):
    with pytest.raises(MltrailException, match=message) as err:
        parse_order_by(clause, grammar)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


# ------------------------------------------- side by side with the real mlflow

# Deliberate differences from MLflow's parser, which passes these through verbatim:
# an escaped quote inside a string or key ('it''s', 'it\\'s', `a``b`) is decoded as in
# SQL, and "<>" / "==" are read as "!=" / "=" (MLflow's stores then reject them).
DELIBERATE_DIFFERENCES = {
    "metrics.acc <> 3",
    "metrics.acc == 3",
    "params.x = 'it''s'",
    "params.x = 'it\\'s'",
    'params.x = "say ""hi"""',
    "tags.`a``b` = 'c'",
}

_MLFLOW_ALL_VALID = (
    [(RUNS, t) for t in SEARCH_RUNS_PAGE + SEARCH_RUNS_PAGE_V1_V2]
    + [(EXPERIMENTS, t) for t, _ in SEARCH_EXPERIMENTS_PAGE]
    + MODEL_REGISTRY_PAGE
    + [
        (RUNS, t)
        for t, _ in VALID
        if " OR " not in t.upper() and "(" not in t.split(" ", 1)[0] and t not in DELIBERATE_DIFFERENCES
    ]
)


def _mlflow_parse(grammar, text):
    from mlflow.utils import search_utils as utils  # the real MLflow parser (mlflow-skinny, test extra)

    cls = {
        "runs": utils.SearchUtils,
        "experiments": utils.SearchExperimentsUtils,
        "registered models": utils.SearchModelUtils,
        "model versions": utils.SearchModelVersionUtils,
    }[grammar.name]
    return cls.parse_search_filter(text)


def _normalize(entity, key, op, value, numeric):
    if isinstance(value, (list, tuple)):
        value = tuple(float(v) if numeric else v for v in value)
    elif value is not None and numeric:
        value = float(value)
    return (entity, key, op.upper(), value)


def _mlflow_accepts(grammar, text):
    try:
        _mlflow_parse(grammar, text)
    except Exception:  # MLflow rejects it; mltrail is allowed to be more permissive
        return False
    return True


# Only filters MLflow itself accepts can be compared; the rest are mltrail's extensions.
_MLFLOW_COMPARABLE = [(g, t) for g, t in _MLFLOW_ALL_VALID if _mlflow_accepts(g, t)]


def test_mlflow_accepts_most_documented_filters():
    assert len(_MLFLOW_COMPARABLE) >= len(_MLFLOW_ALL_VALID) - 25


@pytest.mark.parametrize(("grammar", "text"), _MLFLOW_COMPARABLE, ids=[t for _, t in _MLFLOW_COMPARABLE])
def test_same_comparisons_as_mlflow(grammar, text):
    from mlflow.utils import search_utils as utils

    theirs = _mlflow_parse(grammar, text)
    ours = comparisons(parse_filter(text, grammar))
    numeric_keys = grammar.numeric_attributes
    expected = []
    for d in theirs:
        key = utils.SearchUtils.translate_key_alias(d["key"]) if grammar is RUNS else d["key"]
        numeric = d["type"] == "metric" or (d["type"] == "attribute" and key in numeric_keys)
        expected.append(_normalize(d["type"], key, d["comparator"], d["value"], numeric))
    got = [
        _normalize(c.entity_type, c.key, c.op, c.value, c.entity_type == "metric" or c.key in numeric_keys)
        for c in ours
    ]
    assert got == expected


def _mlflow_order_by(clause):
    from mlflow.utils.search_utils import SearchUtils

    try:
        return SearchUtils.parse_order_by_for_search_runs(clause)
    except Exception:  # MLflow rejects it; mltrail is allowed to be more permissive
        return None


MLFLOW_ORDER_BY = [c for c, g, _ in ORDER_BY if g is RUNS and _mlflow_order_by(c) is not None]


@pytest.mark.parametrize("clause", MLFLOW_ORDER_BY)
def test_same_order_by_as_mlflow(clause):
    from mlflow.utils import search_utils as utils

    entity, key, ascending = _mlflow_order_by(clause)
    assert parse_order_by(clause) == (entity, utils.SearchUtils.translate_key_alias(key), ascending)

"""MLflow's ``/graphql`` endpoint: the queries its web UI sends, answered from mltrail's stores.

A small executor on graphql-core (:mod:`mltrail.server.graphql_schema` is the
schema): each root field calls the same handler as the REST endpoint it mirrors
(``mlflowGetRun`` is ``runs/get``, ``mlflowSearchRuns`` is ``runs/search``, …),
so validation and error messages match. The answer is MLflow's:
``{"data": …, "errors": [message, …] | null}``, always HTTP 200.

Bounded before anything runs: the query text (``MAX_QUERY_CHARS``, ``MAX_TOKENS``),
depth (10), total selections (1,000), root fields and aliases per level (10 each,
MLflow's ``MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS`` / ``_MAX_ALIASES``). With
logins on, every run, experiment and model a query reads needs READ.

Example::

    POST /graphql {"query": "query MlflowGetRun($data: MlflowGetRunInput!) {
        mlflowGetRun(input: $data) { run { info { runName status } } } }",
        "variables": {"data": {"runId": "4f…"}}}
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable
from typing import Any

import msgspec

from mltrail.exceptions import MltrailException, invalid
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.protocol.registry import REGISTRY
from mltrail.protocol.tracking import TRACKING
from mltrail.server.auth.rules import READ, PermissionDenied, Rule, Subject
from mltrail.server.graphql_schema import SDL
from mltrail.server.handlers import ajax, registry, tracking
from mltrail.server.routing import Call, Endpoint

MAX_DEPTH = 10
MAX_SELECTIONS = 1000
MAX_QUERY_CHARS = 50_000
MAX_TOKENS = 5_000
_ROOT_FIELDS_ENV = "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS"
_ALIASES_ENV = "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


class GraphQLRequest(msgspec.Struct):
    query: str | None = None
    variables: dict[str, Any] | str | None = None
    operationName: str | None = None


class GraphQLResponse(msgspec.Struct):
    data: dict[str, Any] | None = None
    errors: list[str] | None = None


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _limit(env: str) -> int:
    try:
        return int(os.environ.get(env, "10"))
    except ValueError:
        return 10


# ------------------------------------------------------------------ the size and depth check
def check_document(document: Any) -> str | None:
    """Why a parsed query is refused (depth, selections, root fields, aliases), or ``None``."""
    from graphql.language import (
        FieldNode,
        FragmentDefinitionNode,
        FragmentSpreadNode,
        InlineFragmentNode,
        OperationDefinitionNode,
    )

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def level(selection_set: Any, seen: frozenset[str]) -> tuple[list[Any], int, frozenset[str]]:
        """The fields of one level (through fragments) and how many carry an alias."""
        fields, aliases, pending = [], 0, list(selection_set.selections)
        while pending:
            node = pending.pop()
            if isinstance(node, FieldNode):
                fields.append(node)
                aliases += node.alias is not None
            elif isinstance(node, InlineFragmentNode):
                pending.extend(node.selection_set.selections)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                seen = seen | {node.name.value}
                found = fragments.get(node.name.value)
                if found is not None:
                    pending.extend(found.selection_set.selections)
        return fields, aliases, seen

    total, max_roots, max_aliases = 0, _limit(_ROOT_FIELDS_ENV), _limit(_ALIASES_ENV)
    for op in document.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        stack = [(op.selection_set, 1, frozenset())]
        while stack:
            selection_set, depth, seen = stack.pop()
            if depth > MAX_DEPTH:
                return f"Query exceeds maximum depth of {MAX_DEPTH}"
            fields, aliases, seen = level(selection_set, seen)
            if depth == 1 and len(fields) > max_roots:
                return (
                    f"GraphQL queries should have at most {max_roots} root fields, got {len(fields)} root "
                    f"fields. To increase the limit, set the {_ROOT_FIELDS_ENV} environment variable."
                )
            if aliases > max_aliases:
                return (
                    f"GraphQL queries should have at most {max_aliases} aliases, got {aliases} aliases. "
                    f"To increase the limit, set the {_ALIASES_ENV} environment variable."
                )
            total += len(fields)
            if total > MAX_SELECTIONS:
                return f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
            stack.extend((f.selection_set, depth + 1, seen) for f in fields if f.selection_set)
    return None


# ------------------------------------------------------------------ resolvers
class Context:
    """What resolvers get as ``info.context``: the request's call and, with logins on, its caller."""

    def __init__(self, call: Call, subject: Subject | None) -> None:
        self.call, self.subject = call, subject

    def run(self, handler: Callable[[Call], Any], body: Any) -> Any:
        return handler(Call(self.call.request, body))

    def require_experiment(self, experiment_id: str) -> None:
        if self.subject is not None:
            self.subject.require_experiment(experiment_id, READ)

    def can_read_model(self, name: str) -> bool:
        if self.subject is None:
            return True
        try:
            self.subject.require_model(name, READ)
        except PermissionDenied:
            return False
        return True


def _body(route_request: type, args: dict[str, Any]) -> Any:
    data = _snake_keys(args.get("input") or {})
    try:
        return msgspec.convert(data, route_request, strict=False)
    except msgspec.ValidationError as err:
        raise invalid(f"Invalid input: {err}") from None


def _get_run(ctx: Context, args: dict[str, Any]) -> Any:
    out = ctx.run(tracking.get_run, _body(TRACKING.get_run.request, args))
    ctx.require_experiment(out["run"]["info"]["experiment_id"])
    return out


def _get_experiment(ctx: Context, args: dict[str, Any]) -> Any:
    body = _body(TRACKING.get_experiment.request, args)
    ctx.require_experiment(body.experiment_id)
    return ctx.run(tracking.get_experiment, body)


def _bulk_interval(ctx: Context, args: dict[str, Any]) -> Any:
    body = _body(TRACKING.get_metric_history_bulk_interval.request, args)
    for run_id in dict.fromkeys(body.run_ids or ()):
        ctx.require_experiment(str(ctx.call.tracking_store.get_run(run_id).info.experiment_id))
    return ctx.run(tracking.get_metric_history_bulk_interval, body)


def _list_artifacts(ctx: Context, args: dict[str, Any]) -> Any:
    body = _body(TRACKING.list_artifacts.request, args)
    run_id = body.run_id or body.run_uuid
    if run_id:
        ctx.require_experiment(str(ctx.call.tracking_store.get_run(run_id).info.experiment_id))
    return ctx.run(tracking.list_run_artifacts, body)


def _search_model_versions(ctx: Context, args: dict[str, Any]) -> Any:
    out = ctx.run(registry.search_model_versions, _body(REGISTRY.search_model_versions.request, args))
    out["model_versions"] = [
        v for v in out.get("model_versions", []) if ctx.can_read_model(v.get("name", ""))
    ]
    return out


def _search_runs(ctx: Context, args: dict[str, Any]) -> Any:
    body = _body(TRACKING.search_runs.request, args)
    for experiment_id in body.experiment_ids or ():
        ctx.require_experiment(experiment_id)
    return ctx.run(tracking.search_runs, body)


def _search_datasets(ctx: Context, args: dict[str, Any]) -> Any:
    body = _body(ajax.SearchDatasets, args)
    for experiment_id in body.experiment_ids:
        ctx.require_experiment(experiment_id)
    return ctx.run(ajax.search_datasets, body)


def _echo(_ctx: Context, args: dict[str, Any]) -> Any:
    return {"output": args.get("inputString")}


def _run_experiment(ctx: Context, run: dict[str, Any]) -> Any:
    experiment_id = (run.get("info") or {}).get("experiment_id")
    return ctx.run(tracking.get_experiment, TRACKING.get_experiment.request(experiment_id=experiment_id))[
        "experiment"
    ]


def _run_model_versions(ctx: Context, run: dict[str, Any]) -> Any:
    run_id = (run.get("info") or {}).get("run_id", "")
    body = REGISTRY.search_model_versions.request(filter=f"run_id='{run_id}'")
    found = ctx.run(registry.search_model_versions, body).get("model_versions", [])
    return [v for v in found if ctx.can_read_model(v.get("name", ""))]


_ROOTS: dict[tuple[str, str], Callable[[Context, dict[str, Any]], Any]] = {
    ("Query", "mlflowGetExperiment"): _get_experiment,
    ("Query", "mlflowGetMetricHistoryBulkInterval"): _bulk_interval,
    ("Query", "mlflowGetRun"): _get_run,
    ("Query", "mlflowListArtifacts"): _list_artifacts,
    ("Query", "mlflowSearchModelVersions"): _search_model_versions,
    ("Query", "mlflowSearchRuns"): _search_runs,
    ("Query", "test"): _echo,
    ("Mutation", "mlflowSearchDatasets"): _search_datasets,
    ("Mutation", "mlflowSearchRuns"): _search_runs,
    ("Mutation", "testMutation"): _echo,
}
_NESTED: dict[tuple[str, str], Callable[[Context, dict[str, Any]], Any]] = {
    ("MlflowRunExtension", "experiment"): _run_experiment,
    ("MlflowRunExtension", "modelVersions"): _run_model_versions,
}


def _field(source: Any, info: Any, **args: Any) -> Any:
    """Every field: a root or run-extension resolver, else the snake_case key of the parent's JSON."""
    key = (info.parent_type.name, info.field_name)
    resolver = _ROOTS.get(key) or _NESTED.get(key)
    try:
        if resolver is not None:
            return resolver(info.context, args if key in _ROOTS else source)
    except MltrailException as err:
        from graphql import GraphQLError

        raise GraphQLError(err.message) from None
    value = source.get(_snake(info.field_name)) if isinstance(source, dict) else None
    if value is None and isinstance(source, dict) and _named_type(info.return_type) == "String":
        return ""  # MLflow's graphene reads the protobuf message: an unset string field is its default ""
    if (isinstance(value, float) and not math.isfinite(value)) or (
        isinstance(value, str) and value in _NON_FINITE
    ):
        return (
            None  # a NaN metric (protobuf JSON's "NaN"): GraphQL's Float cannot carry it; MLflow answers null
        )
    return value


def _named_type(gql_type: Any) -> str | None:
    """The name of a GraphQL output type under its non-null / list wrappers."""
    while hasattr(gql_type, "of_type"):
        gql_type = gql_type.of_type
    return getattr(gql_type, "name", None)


def _long_literal(node: Any, _variables: Any = None) -> int | None:
    from graphql.language import IntValueNode

    return int(node.value) if isinstance(node, IntValueNode) else None


@functools.cache
def schema() -> Any:
    """The executable schema (built once)."""
    from graphql import build_schema

    built = build_schema(SDL)
    long_string = built.type_map["LongString"]
    # graphql-core 3.3 names them coerce_*; 3.2 serialize / parse_*: set both.
    long_string.coerce_output_value = long_string.serialize = str  # type: ignore[attr-defined]
    long_string.coerce_input_value = long_string.parse_value = int  # type: ignore[attr-defined]
    long_string.coerce_input_literal = long_string.parse_literal = _long_literal  # type: ignore[attr-defined]
    return built


def _variables(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):  # GET ?variables={...}
        try:
            raw = json.loads(raw) if raw else None
        except ValueError:
            raise invalid("Invalid 'variables': not JSON") from None
    if raw is not None and not isinstance(raw, dict):
        raise invalid("Invalid 'variables': it must be a JSON object")
    return raw


def execute(
    call: Call, query: str | None, variables: Any, operation: str | None, subject: Subject | None
) -> dict:
    """Run one GraphQL request; MLflow's answer shape (errors as messages)."""
    with LAZY_IMPORTS:  # graphql-core loads on the first query, in a worker thread; later imports find it
        from graphql import GraphQLError, execute_sync, parse, validate

    if not isinstance(query, str) or not query.strip():
        return {"data": None, "errors": ["Must provide query string."]}
    if len(query) > MAX_QUERY_CHARS:
        return {"data": None, "errors": [f"Query exceeds the maximum length of {MAX_QUERY_CHARS} characters"]}
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as err:
        return {"data": None, "errors": [err.message]}
    refused = check_document(document)
    if refused is not None:
        return {"data": None, "errors": [refused]}
    problems = validate(schema(), document)
    if problems:
        return {"data": None, "errors": [p.message for p in problems]}
    result = execute_sync(
        schema(), document, variable_values=_variables(variables), operation_name=operation,
        context_value=Context(call, subject), field_resolver=_field,
    )  # fmt: skip
    return {"data": result.data, "errors": [e.message for e in result.errors] if result.errors else None}


def graphql_endpoint(call: Call) -> dict[str, Any]:
    """``GET|POST /graphql``: the body (POST) or the query string (GET) holds query, variables, operationName."""
    subject = getattr(call.request.state, "graphql_subject", None)
    if call.request.method == "GET":
        q = call.query
        return execute(call, q.get("query"), q.get("variables"), q.get("operationName"), subject)
    b: GraphQLRequest = call.body
    return execute(call, b.query, b.variables, b.operationName, subject)


def _keep_subject(call: Call, subject: Subject) -> None:
    """Logins on: any signed-in user; the resolvers check READ on what they read."""
    if subject.user is None:
        raise PermissionDenied()
    call.request.state.graphql_subject = subject


ENDPOINTS: list[Endpoint] = [
    Endpoint("/graphql", ("POST",), graphql_endpoint, request=GraphQLRequest, response=GraphQLResponse,
             service="", summary="MLflow's GraphQL API (the UI's run, experiment, metric and dataset reads)",
             tags=("ui",)),
    Endpoint("/graphql", ("GET",), graphql_endpoint, request=None, response=GraphQLResponse, service="",
             summary="MLflow's GraphQL API over GET (?query=&variables=&operationName=)", tags=("ui",)),
]  # fmt: skip

AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/graphql", "POST"): Rule("authenticated", READ, _keep_subject),
    ("/graphql", "GET"): Rule("authenticated", READ, _keep_subject),
}

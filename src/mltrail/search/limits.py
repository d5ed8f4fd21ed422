"""Size limits on search filters and ``order_by`` lists, so one request's CPU stays bounded.

A filter's length is checked before it is tokenized; clauses, parenthesis depth
and list values are counted while parsing (which the length already bounds).
The limits sit far above any filter a person or MLflow's UI writes (MLflow's
own examples use a handful of clauses) and low enough that a filter at every
limit parses and runs in well under a few seconds on SQLite and PostgreSQL
(the SQL store groups long AND/OR chains so SQLite's expression-depth limit of
1,000 is never reached).

Example::

    check_filter_length("metrics.acc > 0.9")  # fine
"""

from __future__ import annotations

from mltrail.exceptions import MltrailException, invalid

#: Longest filter string accepted, in characters.
MAX_FILTER_LENGTH = 100_000
#: Most comparisons (``key op value``) in one filter.
MAX_FILTER_CLAUSES = 200
#: Most values across all ``IN (...)`` lists of one filter (each one is a bound SQL parameter).
MAX_FILTER_VALUES = 10_000
#: Deepest parenthesis nesting in one filter.
MAX_FILTER_NESTING = 50
#: Most ``order_by`` clauses in one search (each one may join a table).
MAX_ORDER_BY_CLAUSES = 20
#: Most experiment or trace ids one search or delete names. Each is a bound SQL parameter,
#: and PostgreSQL takes at most 65,535 per statement (a 500 past it before).
MAX_IDS_PER_REQUEST = 10_000


def over_limit(what: str, count: int, limit: int, unit: str) -> MltrailException:
    """``INVALID_PARAMETER_VALUE``: '<what> has N <unit>; the limit is L'."""
    return invalid(f"{what[:1].upper()}{what[1:]} has {count:,} {unit}; the limit is {limit:,}")


def more_than(what: str, limit: int, unit: str) -> MltrailException:
    """``INVALID_PARAMETER_VALUE``: '<what> has more than L <unit>; the limit is L' (counted while parsing)."""
    return invalid(f"{what[:1].upper()}{what[1:]} has more than {limit:,} {unit}; the limit is {limit:,}")


def check_filter_length(filter_string: str, what: str = "filter") -> None:
    """Refuse a filter longer than :data:`MAX_FILTER_LENGTH` before any work is spent on it."""
    if len(filter_string) > MAX_FILTER_LENGTH:
        raise over_limit(f"the {what}", len(filter_string), MAX_FILTER_LENGTH, "characters")


def check_id_count(ids: object, what: str) -> None:
    """Refuse more than :data:`MAX_IDS_PER_REQUEST` ``what`` (e.g. "experiment_ids") in one request."""
    if isinstance(ids, (list, tuple)) and len(ids) > MAX_IDS_PER_REQUEST:
        raise over_limit(f"the list of {what}", len(ids), MAX_IDS_PER_REQUEST, "entries")


def check_order_by_count(order_by: object) -> None:
    """Refuse more than :data:`MAX_ORDER_BY_CLAUSES` ``order_by`` clauses."""
    if isinstance(order_by, (list, tuple)) and len(order_by) > MAX_ORDER_BY_CLAUSES:
        raise over_limit("order_by", len(order_by), MAX_ORDER_BY_CLAUSES, "clauses")

"""Registry contract: one suite over SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from mltrail.entities import ModelVersionTag, RegisteredModelTag
from mltrail.exceptions import MltrailException
from mltrail.store.sql.registry import SqlRegistryStore
from support.sql_backends import SQL_BACKENDS

_TABLES = (
    "registered_model_aliases",
    "model_version_tags",
    "model_versions",
    "registered_model_tags",
    "registered_models",
)


@pytest.fixture(params=SQL_BACKENDS)
def store(request) -> SqlRegistryStore:
    uri = request.getfixturevalue(
        {"sqlite": "sqlite_uri", "postgres": "postgres_uri", "mysql": "mysql_uri"}[request.param]
    )
    s = SqlRegistryStore(uri)
    import sqlalchemy as sa

    with s.engine.begin() as conn:  # a clean registry per test on the shared server databases
        for table in _TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
    return s


def _code(fn) -> str:
    with pytest.raises(MltrailException) as err:
        fn()
    return err.value.error_code


def test_registered_model_lifecycle(store):
    rm = store.create_registered_model("m1", tags=[RegisteredModelTag("team", "nlp")], description="first")
    assert (rm.name, rm.description, rm.tags) == ("m1", "first", {"team": "nlp"})
    assert rm.creation_timestamp and rm.latest_versions == []
    assert _code(lambda: store.create_registered_model("m1")) == "RESOURCE_ALREADY_EXISTS"
    assert store.update_registered_model("m1", "second").description == "second"
    store.set_registered_model_tag("m1", RegisteredModelTag("team", "cv"))
    store.set_registered_model_tag("m1", RegisteredModelTag("k", "v"))
    store.delete_registered_model_tag("m1", "k")
    assert store.get_registered_model("m1").tags == {"team": "cv"}
    assert _code(lambda: store.get_registered_model("nope")) == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("", "a/b", "a:b"):
        assert _code(lambda b=bad: store.create_registered_model(b)) == "INVALID_PARAMETER_VALUE"


def test_versions_stages_and_archiving(store):
    store.create_registered_model("m")
    v1 = store.create_model_version(
        "m",
        "s3://bucket/m/1",
        run_id="r1",
        run_link="#/runs/r1",
        tags=[ModelVersionTag("k", "v")],
        description="d",
    )
    assert (v1.version, v1.current_stage, v1.status, v1.run_id, v1.run_link, v1.tags) == (
        "1",
        "None",
        "READY",
        "r1",
        "#/runs/r1",
        {"k": "v"},
    )
    v2 = store.create_model_version("m", "s3://bucket/m/2")
    v3 = store.create_model_version("m", "s3://bucket/m/3")
    assert (v2.version, v3.version) == ("2", "3")
    store.transition_model_version_stage("m", "1", "production")
    store.transition_model_version_stage("m", "2", "Staging")
    moved = store.transition_model_version_stage("m", "3", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert store.get_model_version("m", "1").current_stage == "Archived"
    assert store.get_model_version("m", "2").current_stage == "Staging"  # other stages untouched
    latest = {mv.current_stage: mv.version for mv in store.get_registered_model("m").latest_versions}
    assert latest == {"Production": "3", "Staging": "2", "Archived": "1"}
    assert [mv.version for mv in store.get_latest_versions("m", ["Production"])] == ["3"]
    assert _code(lambda: store.transition_model_version_stage("m", "1", "Bogus")) == "INVALID_PARAMETER_VALUE"
    assert (
        _code(
            lambda: store.transition_model_version_stage("m", "1", "Archived", archive_existing_versions=True)
        )
        == "INVALID_PARAMETER_VALUE"
    )
    assert store.update_model_version("m", "2", "better").description == "better"
    assert store.get_model_version_download_uri("m", "2") == "s3://bucket/m/2"
    store.set_model_version_tag("m", "2", ModelVersionTag("a", "1"))
    store.delete_model_version_tag("m", "2", "a")
    assert store.get_model_version("m", "2").tags == {}
    store.delete_model_version("m", "3")
    assert _code(lambda: store.get_model_version("m", "3")) == "RESOURCE_DOES_NOT_EXIST"
    assert store.create_model_version("m", "s3://bucket/m/4").version == "4"  # numbers are never reused
    assert _code(lambda: store.get_model_version("m", "x")) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: store.create_model_version("missing", "s3://b/x")) == "RESOURCE_DOES_NOT_EXIST"


def test_aliases(store):
    store.create_registered_model("a")
    for _ in range(2):
        store.create_model_version("a", "s3://b/a")
    store.set_registered_model_alias("a", "champion", "1")
    store.set_registered_model_alias("a", "champion", "2")  # moves
    store.set_registered_model_alias("a", "challenger", "1")
    assert store.get_model_version_by_alias("a", "champion").version == "2"
    assert store.get_registered_model("a").aliases == {"challenger": "1", "champion": "2"}
    assert store.get_model_version("a", "1").aliases == ["challenger"]
    store.delete_registered_model_alias("a", "challenger")
    assert _code(lambda: store.get_model_version_by_alias("a", "challenger")) == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("latest", "v3", "bad alias", ""):
        assert _code(lambda b=bad: store.set_registered_model_alias("a", b, "1")) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: store.set_registered_model_alias("a", "x", "9")) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_model_version("a", "2")  # deleting a version drops its aliases
    assert store.get_registered_model("a").aliases == {}


def test_rename_and_delete_cascade(store):
    store.create_registered_model("old", tags=[RegisteredModelTag("t", "1")])
    store.create_model_version("old", "s3://b/1", tags=[ModelVersionTag("vt", "x")])
    store.set_registered_model_alias("old", "prod", "1")
    store.create_registered_model("taken")
    assert _code(lambda: store.rename_registered_model("old", "taken")) == "RESOURCE_ALREADY_EXISTS"
    renamed = store.rename_registered_model("old", "new")
    assert renamed.name == "new" and renamed.tags == {"t": "1"} and renamed.aliases == {"prod": "1"}
    mv = store.get_model_version_by_alias("new", "prod")
    assert (mv.name, mv.tags) == ("new", {"vt": "x"})
    assert _code(lambda: store.get_registered_model("old")) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_registered_model("new")
    assert _code(lambda: store.get_model_version("new", "1")) == "RESOURCE_DOES_NOT_EXIST"
    store.create_registered_model("new")  # the name is free again, versions restart at 1
    assert store.create_model_version("new", "s3://b/x").version == "1"


def test_search(store):
    for name in ("alpha", "beta", "gamma"):
        store.create_registered_model(
            name, tags=[RegisteredModelTag("kind", "llm" if name != "beta" else "cv")]
        )
        store.create_model_version(name, f"s3://b/{name}", run_id=f"run-{name}")
    store.create_model_version("alpha", "s3://b/alpha2", run_id="run-x")
    names = [m.name for m in store.search_registered_models("tags.kind = 'llm'")]
    assert names == ["alpha", "gamma"]
    page = store.search_registered_models(max_results=2, order_by=["name DESC"])
    assert [m.name for m in page] == ["gamma", "beta"] and page.token
    rest = store.search_registered_models(max_results=2, order_by=["name DESC"], page_token=page.token)
    assert [m.name for m in rest] == ["alpha"] and rest.token is None
    assert [m.name for m in store.search_registered_models("name LIKE 'a%'")] == ["alpha"]
    versions = store.search_model_versions("name = 'alpha'")
    assert [(v.name, v.version) for v in versions] == [("alpha", "2"), ("alpha", "1")]
    assert [v.name for v in store.search_model_versions("run_id = 'run-beta'")] == ["beta"]
    assert _code(lambda: store.search_registered_models(max_results=0)) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: store.search_registered_models("name ~ 'x'")) == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "source",
    [
        "s3://b/../../etc",
        "/models/%2e%2e/%2e%2e/etc",
        "runs:/abc/../../../etc",
        "s3://b/x#frag",
        "s3://b/x;param",
        "file:///tmp/a/../../etc/passwd",
        "models:/m/1/../../x",
    ],
)
def test_bad_sources_rejected(store, source):
    store.create_registered_model("m")
    assert _code(lambda: store.create_model_version("m", source)) == "INVALID_PARAMETER_VALUE"
    assert store.search_model_versions("name = 'm'") == []  # nothing half-written


def test_copy_model_version(store):
    store.create_registered_model("src")
    store.create_model_version("src", "s3://b/src/1", run_id="r", tags=[ModelVersionTag("k", "v")])
    copied = store.copy_model_version(store.get_model_version("src", "1"), "dst")
    assert (copied.name, copied.version, copied.source, copied.run_id, copied.tags) == (
        "dst",
        "1",
        "models:/src/1",
        "r",
        {"k": "v"},
    )
    assert store.get_model_version_download_uri("dst", "1") == "s3://b/src/1"


def test_concurrent_version_creation_gives_unique_numbers(store):
    from concurrent.futures import ThreadPoolExecutor

    store.create_registered_model("busy")

    def register(i: int) -> str:
        return store.create_model_version("busy", f"s3://b/busy/{i}").version

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(register, range(24)))
    assert sorted(int(v) for v in versions) == list(range(1, 25))

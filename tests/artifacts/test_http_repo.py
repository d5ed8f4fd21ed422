"""HTTP proxy client specifics: URI forms, retries, unreachable servers, auth, hostile servers."""

from __future__ import annotations

import pytest

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.http import HttpArtifactRepository, resolve_proxy_uri
from mltrail.exceptions import (
    INVALID_PARAMETER_VALUE,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
)
from support.live_server import free_port

API = "/api/2.0/mlflow-artifacts/artifacts"


def test_uri_forms_resolve_to_the_same_files(proxy, monkeypatch):
    host = proxy.url.removeprefix("http://")
    a = get_artifact_repository("mlflow-artifacts:/0/run1/artifacts", tracking_uri=proxy.url)
    a.log_bytes(b"same", "f.txt")
    b = get_artifact_repository(f"mlflow-artifacts://{host}/0/run1/artifacts")
    c = get_artifact_repository(f"{proxy.url}{API}/0/run1/artifacts")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
    d = get_artifact_repository("mlflow-artifacts:/0/run1/artifacts")
    for repo in (a, b, c, d):
        assert isinstance(repo, HttpArtifactRepository)
        assert repo.read_bytes("f.txt") == b"same"
    assert (proxy.repo.root / "0" / "run1" / "artifacts" / "f.txt").read_bytes() == b"same"
    assert [r["path"] for r in proxy.seen if r["method"] == "PUT"] == [f"{API}/0/run1/artifacts/f.txt"]


def test_resolve_proxy_uri():
    assert resolve_proxy_uri("mlflow-artifacts:/0/r", "https://h:1/prefix/") == ("https://h:1/prefix", "0/r")
    assert resolve_proxy_uri("mlflow-artifacts://h:2/x", "https://t") == ("https://h:2", "x")
    assert resolve_proxy_uri("mlflow-artifacts://h:2/x") == ("http://h:2", "x")
    assert resolve_proxy_uri(f"http://h{API}") == ("http://h", "")
    assert resolve_proxy_uri(f"http://h/p{API}/a%20b/c") == ("http://h/p", "a b/c")


@pytest.mark.parametrize(
    ("uri", "tracking", "message"),
    [
        ("mlflow-artifacts://:5000/x", None, "host"),
        ("http://h/not-the-proxy/x", None, "expected"),
    ],
)
def test_unresolvable_uris(uri, tracking, message):
    with pytest.raises(MltrailException) as info:
        get_artifact_repository(uri, tracking_uri=tracking)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert message in info.value.message


def test_hostless_proxy_uri_needs_an_http_tracking_uri_for_the_proxy():
    with pytest.raises(MltrailException) as info:
        resolve_proxy_uri("mlflow-artifacts:/0/r", "sqlite:///x.db")
    assert "tracking URI" in info.value.message


def test_hostless_proxy_uri_under_a_database_uri_is_the_servers_artifact_folder(tmp_path, monkeypatch):
    # The embedded SDK on a server's database reads and writes the server's proxied files directly.
    monkeypatch.chdir(tmp_path)
    repo = get_artifact_repository("mlflow-artifacts:/0/r", tracking_uri=f"sqlite:///{tmp_path / 'x.db'}")
    repo.log_bytes(b"local", "f.txt")
    assert (tmp_path / "mltrail-artifacts" / "0" / "r" / "f.txt").read_bytes() == b"local"


def test_special_characters_are_url_encoded(proxy):
    repo = get_artifact_repository(f"{proxy.url}{API}/enc")
    repo.log_bytes(b"1", "dir with space/ü?&=.txt")
    assert repo.read_bytes("dir with space/ü?&=.txt") == b"1"
    assert [f.path for f in repo.list_artifacts("dir with space")] == ["dir with space/ü?&=.txt"]
    assert (proxy.repo.root / "enc" / "dir with space" / "ü?&=.txt").exists()


def test_retries_on_5xx_then_succeeds(proxy, tmp_path):
    repo = get_artifact_repository(f"{proxy.url}{API}/retry")
    f = tmp_path / "up.txt"
    f.write_text("payload")
    proxy.fail_next = 2
    repo.log_artifact(f)  # a file body is replayed on each attempt
    assert repo.read_bytes("up.txt") == b"payload"
    puts = [r for r in proxy.seen if r["method"] == "PUT"]
    assert len(puts) == 3
    proxy.fail_next = 2
    assert [x.path for x in repo.list_artifacts()] == ["up.txt"]


def test_gives_up_after_max_retries(proxy, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    repo = get_artifact_repository(f"{proxy.url}{API}/giveup")
    proxy.fail_next = 5
    with pytest.raises(MltrailException) as info:
        repo.read_bytes("x")
    assert info.value.error_code == TEMPORARILY_UNAVAILABLE
    assert len(proxy.seen) == 2


def test_unreachable_server_names_the_url(monkeypatch):
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    port = free_port()  # nothing listens here
    repo = get_artifact_repository(f"http://user:pw-secret@127.0.0.1:{port}{API}/x")
    with pytest.raises(MltrailException) as info:
        repo.list_artifacts()
    assert info.value.error_code == TEMPORARILY_UNAVAILABLE
    assert f"http://127.0.0.1:{port}{API}" in info.value.message
    assert "2 attempt" in info.value.message
    assert "pw-secret" not in info.value.message


def test_keep_alive_reuses_one_connection(proxy):
    repo = get_artifact_repository(f"{proxy.url}{API}/ka")
    for i in range(5):
        repo.log_bytes(b"x", f"f{i}")
    assert len(repo.list_artifacts()) == 5
    ports = {r["port"] for r in proxy.seen}
    assert len(ports) == 1
    other = get_artifact_repository("mlflow-artifacts:/ka2", tracking_uri=proxy.url)
    assert other._client is repo._client


def test_bearer_token_sent(proxy, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    get_artifact_repository(f"{proxy.url}{API}/auth").log_bytes(b"1", "a")
    assert proxy.seen[-1]["headers"]["Authorization"] == "Bearer tok-123"


def test_basic_auth_sent(proxy, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    get_artifact_repository(f"{proxy.url}{API}/auth").list_artifacts()
    assert proxy.seen[-1]["headers"]["Authorization"] == "Basic YWxpY2U6czNjcmV0"


def test_server_errors_keep_mlflow_error_code(proxy):
    repo = get_artifact_repository(f"{proxy.url}{API}/err")
    with pytest.raises(MltrailException) as info:
        repo.read_bytes("missing.txt")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_hostile_listing_cannot_escape_download_dir(proxy, tmp_path):
    repo = get_artifact_repository(f"{proxy.url}{API}/hostile")
    repo.log_bytes(b"1", "d/ok.txt")
    proxy.hostile_listing = True
    with pytest.raises(MltrailException) as info:
        repo.download_artifacts("d", tmp_path / "dl")
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert not (tmp_path / "escaped.txt").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_non_json_error_bodies_are_reported_plainly(proxy):
    # A server (or reverse proxy) that does not speak the protocol at this prefix.
    repo = get_artifact_repository(f"{proxy.url}/wrong-prefix{API}/x")
    with pytest.raises(MltrailException) as info:
        repo.log_bytes(b"1", "a.txt")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "HTTP 404" in info.value.message and "404 Not Found" in info.value.message
    with pytest.raises(MltrailException) as info:
        repo.list_artifacts()
    assert "HTTP 404" in info.value.message


def test_test_proxy_speaks_the_same_protocol_as_official_mlflow(proxy, tmp_path):
    """The official mlflow client and ours read each other's uploads through the proxy,
    so the small test server above is a faithful stand-in for the protocol."""
    official = pytest.importorskip("mlflow.store.artifact.http_artifact_repo")
    uri = f"{proxy.url}{API}/compat/artifacts"
    theirs = official.HttpArtifactRepository(uri)
    ours = get_artifact_repository(uri)
    f = tmp_path / "theirs.txt"
    f.write_text("from mlflow")
    theirs.log_artifact(str(f), "d")
    assert ours.read_bytes("d/theirs.txt") == b"from mlflow"
    ours.log_bytes(b"from mltrail", "d/sub/ours.txt")
    assert [(x.path, x.is_dir) for x in theirs.list_artifacts("d")] == [
        ("d/sub", True),
        ("d/theirs.txt", False),
    ]
    assert [(x.path, x.is_dir, x.file_size) for x in ours.list_artifacts("d")] == [
        ("d/sub", True, None),
        ("d/theirs.txt", False, 11),
    ]
    (tmp_path / "dl").mkdir()  # mlflow insists that dst_path exists (ours creates it)
    out = theirs.download_artifacts("d", str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "d" / "sub" / "ours.txt").read_bytes() == b"from mltrail"
    assert out == str(tmp_path / "dl" / "d")


def test_hostless_uri_follows_the_sdk_tracking_uri(proxy):
    import mltrail
    from mltrail.tracking import is_tracking_uri_set

    before = mltrail.get_tracking_uri() if is_tracking_uri_set() else None
    mltrail.set_tracking_uri(proxy.url)
    try:
        repo = get_artifact_repository("mlflow-artifacts:/sdk/artifacts")
        repo.log_bytes(b"via sdk uri", "f.txt")
        assert mltrail.artifacts.load_text("mlflow-artifacts:/sdk/artifacts/f.txt") == "via sdk uri"
    finally:
        mltrail.set_tracking_uri(before)
    assert (proxy.repo.root / "sdk" / "artifacts" / "f.txt").read_bytes() == b"via sdk uri"

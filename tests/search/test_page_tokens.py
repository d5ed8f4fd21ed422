"""Page tokens: opaque, round-trip, MLflow's shape, clear errors for garbage."""

from __future__ import annotations

import base64
import json

import pytest

from mltrail.exceptions import MltrailException
from mltrail.store.paging import decode_page_token, encode_page_token


@pytest.mark.parametrize("offset", [0, 1, 999, 50_000, 10**12])
def test_round_trip(offset):
    token = encode_page_token(offset)
    assert isinstance(token, str)
    assert decode_page_token(token) == offset


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_means_the_first_page(token):
    assert decode_page_token(token) == 0


def test_reads_tokens_in_mlflow_shape():
    # What MLflow's own stores hand out: base64 of {"offset": N}.
    mlflow_token = base64.b64encode(json.dumps({"offset": 42}).encode("utf-8")).decode()
    assert decode_page_token(mlflow_token) == 42
    assert json.loads(base64.b64decode(encode_page_token(42))) == {"offset": 42}


def test_url_safe_and_unpadded_tokens_are_read():
    raw = base64.urlsafe_b64encode(json.dumps({"offset": 1023}).encode()).decode().rstrip("=")
    assert decode_page_token(raw) == 1023


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not a token!", "not a token returned by a search"),
        ("%%%%", "not a token returned by a search"),
        (base64.b64encode(b"\xff\xfe").decode(), "not a token returned by a search"),
        (base64.b64encode(b"[1, 2]").decode(), "does not hold a valid offset"),
        (base64.b64encode(b'{"offset": -1}').decode(), "does not hold a valid offset"),
        (base64.b64encode(b'{"offset": "x"}').decode(), "does not hold a valid offset"),
        (base64.b64encode(b'{"offset": true}').decode(), "does not hold a valid offset"),
        (base64.b64encode(b'{"offset": 1.5}').decode(), "does not hold a valid offset"),
        (base64.b64encode(b'{"other": 1}').decode(), "does not hold a valid offset"),
        (12, "expected a string"),
    ],
)
def test_garbage_is_invalid_parameter_value(token, message):
    with pytest.raises(MltrailException, match=message) as err:
        decode_page_token(token)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Invalid page token" in err.value.message


@pytest.mark.parametrize("offset", [-1, 1.5, "3", True, None])
def test_encode_rejects_non_offsets(offset):
    with pytest.raises(MltrailException, match="Invalid page offset"):
        encode_page_token(offset)

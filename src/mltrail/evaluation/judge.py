"""Calls to the judge model of LLM-as-judge metrics, and parsing of its verdicts.

A judge is named by a URI ``<provider>:/<model>``; the providers, their
environment variables and wire formats are the table in
:mod:`mltrail.evaluation.providers`. ``openai:/`` judges go through the
``openai`` package (imported only here, lazily); the others are plain HTTP
calls with httpx. Rate limits (429), server errors (5xx, Anthropic's 529) and
dropped connections are retried with exponential backoff; the verdict is a JSON
object with an integer ``score`` and a ``justification``. API keys are sent in
headers only and are masked in every error message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mltrail.evaluation.providers import JSON, PROVIDERS, Provider
from mltrail.exceptions import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
    MltrailException,
    invalid,
)

SUPPORTED_SCHEMES = tuple(PROVIDERS)
DEFAULT_JUDGE = "openai:/gpt-4o-mini"
_RETRIES_VAR = "MLTRAIL_GENAI_JUDGE_MAX_RETRIES"
_DEFAULT_RETRIES = 3
_BACKOFF_SECONDS = 0.5
# MLflow's name for the judge call timeout (seconds), and ours, which wins.
_TIMEOUT_VARS = ("MLTRAIL_GENAI_JUDGE_TIMEOUT", "MLFLOW_GENAI_EVAL_LLM_TIMEOUT")
_DEFAULT_TIMEOUT = 60.0
_SNIPPET = 300

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Verdict:
    """One graded row: ``score`` is ``None`` when the judge could not be used or understood."""

    score: int | None
    justification: str | None


class JudgeCallError(MltrailException):
    """A judge call that failed for good: an error retrying cannot fix, or retries exhausted.

    ``status`` is the HTTP status of a refused call and ``detail`` the ``detail`` field of its
    JSON body (FastAPI's, which MLflow's gateway refusals carry); both are ``None`` otherwise.
    Callers that must tell one refusal from another (System One routing) read them.
    """

    def __init__(
        self, message: str, error_code: str = INTERNAL_ERROR, *, status: int | None = None, detail: Any = None
    ) -> None:
        super().__init__(message, error_code=error_code)
        self.status = status
        self.detail = detail


class _Transient(Exception):
    """A failure worth retrying (429, 5xx, dropped connection); its message is already masked."""


def parse_judge_uri(uri: str) -> tuple[str, str]:
    """``"anthropic:/claude-3-5-haiku-latest"`` -> ``("anthropic", "claude-3-5-haiku-latest")``.

    A malformed URI or an unknown provider is INVALID_PARAMETER_VALUE; the
    message lists the supported providers.
    """
    if not isinstance(uri, str) or ":" not in uri:
        raise invalid(
            f"Malformed judge model URI {uri!r}: expected '<provider>:/<model>', e.g. 'openai:/gpt-4o-mini'."
        )
    scheme, _, rest = uri.partition(":")
    model = rest.lstrip("/")
    if scheme not in PROVIDERS:
        raise invalid(
            f"Unsupported judge model provider {scheme!r} in {uri!r}: supported providers are "
            f"{', '.join(SUPPORTED_SCHEMES)} (any OpenAI-compatible endpoint through OPENAI_BASE_URL)."
        )
    if not model:
        raise invalid(f"Malformed judge model URI {uri!r}: the model name is missing.")
    return scheme, model


@dataclass(frozen=True)
class _Target:
    """A judge URI resolved against the environment: where to send, with which key."""

    provider: Provider
    model: str
    base_url: str
    key: str | None
    secrets: tuple[str, ...]

    def mask(self, text: str) -> str:
        """``text`` with every secret value replaced, for error messages and logs."""
        return _masked(text, self.secrets)


def _longest_first(values: Any) -> tuple[str, ...]:
    """The set values, longest first: a key that contains another secret is then masked whole."""
    return tuple(sorted({v for v in values if v}, key=len, reverse=True))


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _resolve(uri: str) -> _Target:
    """Read the provider's base URL and key from the environment; name the variable that is missing."""
    scheme, model = parse_judge_uri(uri)
    provider = PROVIDERS[scheme]
    base_url = os.environ.get(provider.base_url_var) or provider.default_base_url
    if not base_url and provider.default_base_url_from is not None:
        base_url = provider.default_base_url_from()
    if not base_url:
        if provider.default_base_url_from is not None:
            raise invalid(
                f"A '{scheme}:/' judge model is called through a tracking server: set the tracking URI "
                f"to the server (http(s)://...) or {provider.base_url_var}."
            )
        raise invalid(f"{provider.base_url_var} must be set to use an '{scheme}:/' judge model.")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise invalid(f"{provider.base_url_var} must be an http(s) URL to use an '{scheme}:/' judge model.")
    key = os.environ.get(provider.key_var) if provider.key_var else None
    if provider.key_required and not key:
        raise invalid(f"{provider.key_var} must be set to use an '{scheme}:/' judge model.")
    secrets = _longest_first([key, *(os.environ.get(name) for name in provider.secret_vars)])
    return _Target(provider, model, base_url.rstrip("/"), key, secrets)


def check_judge_available(uri: str) -> None:
    """Fail early (before any row is sent or anything logged) if the judge cannot be called at all.

    Checks the provider's environment variables; for a provider that must be
    looked up first (an ``endpoints:/`` judge's endpoint type), does the
    lookup, so a wrong endpoint name fails here too.
    """
    target = _resolve(uri)
    if target.provider.via_openai_package:
        _openai_client(target)
    if target.provider.lookup is not None:
        try:
            _describe(target)
        except JudgeCallError as err:
            raise invalid(f"Judge model {uri!r} cannot be used: {err.message}") from None


def complete(uri: str, prompt: str, parameters: dict[str, Any] | None = None) -> str:
    """Send ``prompt`` to the judge as one user message and return the reply text.

    ``parameters`` (``temperature``, ``max_tokens``, ...) go into the request;
    ``temperature`` defaults to 0. Transient errors are retried; anything else
    raises :class:`JudgeCallError` with a message that never contains a key.
    """
    target = _resolve(uri)
    params = {"temperature": 0.0, **(parameters or {})}
    if target.provider.via_openai_package:
        return _with_retries(target.provider.name, lambda: _openai_chat(target, prompt, params))
    info = _describe(target) if target.provider.lookup is not None else {}
    body = target.provider.payload(target.model, prompt, params, info)
    path = target.provider.path(target.model)
    return _with_retries(
        target.provider.name, lambda: _reply_text(target, _request(target, "POST", path, body), info)
    )


def post_json(
    url: str, body: JSON, headers: dict[str, str], *, name: str, secrets: tuple[str, ...] = ()
) -> JSON:
    """POST ``body`` to ``url`` with the judges' timeout, retries and key masking; the JSON object answered.

    For judge APIs outside the chat-provider table (TypeSafe's System One). ``name`` names the
    judge in messages; ``secrets`` are masked in them. A refusal (4xx) raises
    :class:`JudgeCallError` with its ``status`` and ``detail``; 429/5xx and dropped connections
    are retried as every judge call is.
    """
    ordered = _longest_first(secrets)
    what = f"the {name} judge at POST {_display_url(url)}"
    return _with_retries(name, lambda: _send("POST", url, body, headers, what, lambda t: _masked(t, ordered)))


def _with_retries(name: str, call: Callable[[], _T]) -> _T:
    retries = int(os.environ.get(_RETRIES_VAR, _DEFAULT_RETRIES))
    attempt = 0
    while True:
        try:
            return call()
        except _Transient as err:
            if attempt >= retries:
                raise JudgeCallError(str(err), error_code=TEMPORARILY_UNAVAILABLE) from None
            delay = _BACKOFF_SECONDS * (2**attempt)
            _logger.debug("Retrying the %s judge in %.1fs: %s", name, delay, err)
            time.sleep(delay)
            attempt += 1


def _timeout() -> float:
    for name in _TIMEOUT_VARS:
        if os.environ.get(name):
            return float(os.environ[name])
    return _DEFAULT_TIMEOUT


# --- openai:/ through the openai package ------------------------------------------------------

_openai_clients: dict[tuple[str, str | None], Any] = {}
_openai_lock = threading.Lock()


def _openai_client(target: _Target) -> Any:
    """One client per (base URL, key), shared by the worker threads (it pools connections)."""
    try:
        import openai
    except ImportError as err:  # pragma: no cover - openai is installed in dev/test envs
        raise invalid(
            "'openai:/' judge models need the openai package: pip install 'mltrail[genai]'"
        ) from err
    cache_key = (target.base_url, target.key)
    with _openai_lock:
        client = _openai_clients.get(cache_key)
        if client is None:
            # Our own retry loop decides what is retried and how often.
            client = openai.OpenAI(base_url=target.base_url, api_key=target.key, max_retries=0)
            _openai_clients[cache_key] = client
        return client


def _openai_chat(target: _Target, prompt: str, params: JSON) -> str:
    import openai

    client = _openai_client(target)
    where = _display_url(target.base_url)
    try:
        resp = client.chat.completions.create(
            model=target.model, messages=[{"role": "user", "content": prompt}], timeout=_timeout(), **params
        )
    except openai.APIStatusError as err:
        message = target.mask(f"the openai judge at {where} answered HTTP {err.status_code}: {err.message}")
        if err.status_code == 429 or err.status_code >= 500:
            raise _Transient(message) from None
        detail = err.body.get("detail") if isinstance(err.body, dict) else None
        raise JudgeCallError(
            message, error_code=_error_code(err.status_code), status=err.status_code, detail=detail
        ) from None
    except openai.APIConnectionError as err:  # includes timeouts
        raise _Transient(target.mask(f"the openai judge at {where} could not be reached: {err}")) from None
    return resp.choices[0].message.content or ""


# --- every other provider: plain HTTP --------------------------------------------------------

_http: Any = None
_http_lock = threading.Lock()
_descriptions: dict[tuple[str, str, str], JSON] = {}
_descriptions_lock = threading.Lock()


def _http_client() -> Any:
    """One keep-alive client for every provider, shared by the worker threads."""
    global _http
    with _http_lock:
        if _http is None:
            import httpx

            _http = httpx.Client(headers={"User-Agent": "mltrail-judge"}, follow_redirects=False)
        return _http


def _request(target: _Target, method: str, path: str, body: JSON | None = None) -> JSON:
    """One HTTP call to ``target``'s provider; 429/5xx and dropped connections raise :class:`_Transient`."""
    url = target.base_url + path
    what = f"the {target.provider.name} judge at {method} {_display_url(url)}"
    return _send(method, url, body, target.provider.headers(target.key), what, target.mask)


def _send(
    method: str, url: str, body: JSON | None, headers: dict[str, str], what: str, mask: Callable[[str], str]
) -> JSON:
    import httpx

    try:
        resp = _http_client().request(method, url, json=body, headers=headers, timeout=_timeout())
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
        raise _Transient(mask(f"{what} could not be reached: {type(err).__name__}: {err}")) from None
    except httpx.HTTPError as err:
        raise JudgeCallError(
            mask(f"{what} failed: {type(err).__name__}: {err}"), error_code=BAD_REQUEST
        ) from None
    if resp.status_code >= 400:
        message = mask(f"{what} answered HTTP {resp.status_code}: {_error_text(resp)}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(message)
        raise JudgeCallError(
            message, error_code=_error_code(resp.status_code), status=resp.status_code, detail=_detail(resp)
        )
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise JudgeCallError(
            mask(f"{what} answered with a body that is not a JSON object: {_snippet(resp.text)}")
        )
    return data


def _detail(resp: Any) -> Any:
    """The ``detail`` field of a JSON error body, or ``None``."""
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _reply_text(target: _Target, body: JSON, info: JSON) -> str:
    try:
        text = target.provider.reply(body, info)
    except (KeyError, IndexError, TypeError) as err:
        raise JudgeCallError(
            target.mask(
                f"the {target.provider.name} judge's reply has no text where expected ({type(err).__name__}: "
                f"{err}): {_snippet(json.dumps(body))}"
            )
        ) from None
    return text or ""


def _describe(target: _Target) -> JSON:
    """The provider's lookup for this model (e.g. an endpoint's type), made once and remembered."""
    lookup = target.provider.lookup
    assert lookup is not None
    cache_key = (target.provider.name, target.base_url, target.model)
    with _descriptions_lock:
        known = _descriptions.get(cache_key)
    if known is not None:
        return known
    body = _with_retries(target.provider.name, lambda: _request(target, "GET", lookup.path(target.model)))
    try:
        info = lookup.read(target.model, body)
    except ValueError as err:
        raise JudgeCallError(target.mask(str(err)), error_code=BAD_REQUEST) from None
    with _descriptions_lock:
        _descriptions[cache_key] = info
    return info


def _error_text(resp: Any) -> str:
    """The provider's own error message: OpenAI/Anthropic ``error``, FastAPI ``detail``, MLflow ``message``."""
    try:
        body = resp.json()
    except ValueError:
        return _snippet(resp.text) or resp.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind, message = error.get("type") or error.get("code"), error.get("message")
            if message:
                return _snippet(f"{kind}: {message}" if kind else str(message))
        if isinstance(error, str):
            return _snippet(error)
        for field in ("detail", "message"):
            if body.get(field):
                return _snippet(str(body[field]))
    return _snippet(json.dumps(body))


def _error_code(status: int) -> str:
    return {
        401: UNAUTHENTICATED,
        403: PERMISSION_DENIED,
        404: RESOURCE_DOES_NOT_EXIST,
        429: REQUEST_LIMIT_EXCEEDED,
    }.get(status, BAD_REQUEST)


def _display_url(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _snippet(text: str) -> str:
    text = (text or "").strip()
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_SCORE_FIELD = re.compile(r'"?score"?\s*[:=]\s*"?(\d+)', re.IGNORECASE)
_JUSTIFICATION_FIELD = re.compile(
    r'"?justification"?\s*[:=]\s*"(.*?)"\s*[,}]?\s*$', re.IGNORECASE | re.DOTALL
)


def parse_verdict(text: str, low: int = 1, high: int = 5) -> Verdict:
    """Read ``{"score": n, "justification": "..."}`` from a judge reply.

    Accepts the object alone, wrapped in prose or a Markdown code fence. A reply
    without a whole-number score in ``[low, high]`` gives ``score=None`` and a
    justification saying why, quoting the reply.
    """
    data: Any = None
    for candidate in (text.strip(), *(_JSON_OBJECT.findall(text) or [])):
        try:
            data = json.loads(candidate)
            break
        except ValueError:
            continue
    if isinstance(data, dict):
        score, justification = data.get("score"), data.get("justification")
    else:  # loose "score: 4" replies, as some models give
        m = _SCORE_FIELD.search(text or "")
        score = m.group(1) if m else None
        j = _JUSTIFICATION_FIELD.search(text or "")
        justification = j.group(1) if j else None
    try:
        value = float(score) if isinstance(score, (int, float, str)) and not isinstance(score, bool) else None
    except ValueError:
        value = None
    if value is None or not value.is_integer() or not low <= value <= high:
        snippet = (text or "").strip()
        if len(snippet) > 300:
            snippet = snippet[:300] + "..."
        return Verdict(
            None,
            f"Failed to extract a score in [{low}, {high}] and a justification from the judge's reply: {snippet!r}",
        )
    return Verdict(int(value), None if justification is None else str(justification))

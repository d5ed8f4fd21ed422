"""Static assets: the HTML shell and versioned, long-cached files.

Every asset URL carries a version (a hash of all shipped files plus the plotly
version), e.g. ``/static/v-1a2b3c4d5e/app.js``. ES modules import each other by
relative path, so the whole module graph inherits the version and can be cached
``immutable`` for a year: a new release changes the hash and every URL.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_URL_PATH = "vendor/plotly.min.js"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

# The HTML shell may only run scripts from this origin: no inline script and no eval.
# plotly.js sets inline styles on the SVG it draws, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-src 'none'; frame-ancestors 'none'; form-action 'self'"
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

IMMUTABLE = "public, max-age=31536000, immutable"


def _has_control_char(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def plotly_js_path() -> Path | None:
    """plotly.min.js inside the installed ``plotly`` wheel, or ``None`` without the wheel."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


@dataclass
class Assets:
    """The shipped files, their version and gzip copies made on first request.

    The version (a hash of every shipped file) and plotly's location are found on
    first use, by the first UI request: not while the server starts.
    """

    static_dir: Path = STATIC_DIR
    _found: tuple[str, Path | None] | None = None
    _gzipped: dict[Path, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _warming: bool = False

    def _find(self) -> tuple[str, Path | None]:
        found = self._found
        if found is None:
            plotly = plotly_js_path()
            digest = hashlib.sha256()
            for path in sorted(self.static_dir.rglob("*")):
                if path.is_file():
                    digest.update(str(path.relative_to(self.static_dir)).encode())
                    digest.update(path.read_bytes())
            if plotly is not None:
                stat = plotly.stat()
                digest.update(f"plotly:{stat.st_size}:{int(stat.st_mtime)}".encode())
            # Two first requests at once both hash the same files: same result, either one kept.
            found = self._found = ("v-" + digest.hexdigest()[:12], plotly)
        return found

    @property
    def version(self) -> str:
        """``v-`` and 12 hex digits of a hash of the shipped files and plotly's."""
        return self._find()[0]

    @property
    def plotly(self) -> Path | None:
        """plotly.min.js of the installed wheel (``None`` without it)."""
        return self._find()[1]

    @property
    def base(self) -> str:
        """The URL prefix of this version's assets."""
        return f"/static/{self.version}/"

    def resolve(self, rel_path: str) -> Path | None:
        """The file behind an asset path, or ``None`` if it is not a shipped file."""
        if rel_path == PLOTLY_URL_PATH:
            return self.plotly
        if not rel_path or "\\" in rel_path or rel_path.startswith("/") or _has_control_char(rel_path):
            return None  # NUL would make the file-system call raise; no shipped file has any of these
        try:
            candidate = (self.static_dir / rel_path).resolve()
        except (OSError, ValueError, RuntimeError):  # e.g. a name too long, a symlink loop
            return None
        root = self.static_dir.resolve()
        # Refuse anything outside static/ (``..``, symlinks) and the shell template.
        if root not in candidate.parents or not candidate.is_file() or candidate.name == "index.html":
            return None
        return candidate

    def gzipped(self, path: Path) -> bytes:
        """A gzip copy of a file, compressed once (plotly.min.js shrinks ~3.5x)."""
        with self._lock:
            data = self._gzipped.get(path)
            if data is None:
                data = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
                self._gzipped[path] = data
            return data

    def warm(self) -> None:
        """Compress plotly.js in the background, once, so the first chart does not wait for it.

        Called when the HTML shell is served: only processes that actually serve the
        UI pay for it (apps built by tests or API-only use never do).
        """
        with self._lock:
            if self._warming or self.plotly is None:
                return
            self._warming = True
        threading.Thread(
            target=self.gzipped, args=(self.plotly,), name="mltrail-ui-gzip", daemon=True
        ).start()

    def shell(self, prefix: str = "") -> str:
        """The HTML shell with this version's asset URLs filled in, under ``prefix`` (``--static-prefix``)."""
        template = (self.static_dir / "index.html").read_text(encoding="utf-8")
        return template.replace("{{BASE}}", prefix + self.base)

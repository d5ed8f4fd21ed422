"""The README's tour with no tracking URI: the embedded SDK on the server's own ./mltrail.db.

The same blocks and checks as test_readme.py, in a module of its own so that the
two tours (the longest tests of the suite) can run on two xdist workers at once.
"""

from __future__ import annotations

from test_readme import run_tour


def test_readme_tour_runs_in_order_embedded(tmp_path, openai_fake, tracking_env, monkeypatch):
    """Each block, in order, with no tracking URI set: the embedded SDK beside a live server."""
    run_tour("embedded", tmp_path, openai_fake, monkeypatch)

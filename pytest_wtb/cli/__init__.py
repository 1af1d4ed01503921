"""``python -m pytest_wtb``: show, replay, runs, diff, prune read the store."""

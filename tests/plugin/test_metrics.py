"""--wtb-metrics and --wtb-pushgateway, read back with prometheus_client's own parser."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from tests.plugin.graphs_src import THREE_VARIANTS

MODULE = THREE_VARIANTS + '''


@wtb.parity(keys=["answer"])
@wtb.cases({"reset": {"q": "reset"}, "refund": {"q": "refund"}})
def test_parity(wtb_run):
    pass
'''


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return parsed[name, frozenset(labels.items())]


def check_metrics(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
    assert value(parsed, "wtb_executions_total", variant="base", status="succeeded", backend="threads") == 2
    assert value(parsed, "wtb_executions_total", variant="loud", status="succeeded", backend="threads") == 2
    assert value(parsed, "wtb_executions_total", variant="down", status="failed", backend="threads") == 2
    assert value(parsed, "wtb_items_total", variant="loud", outcome="failed") == 2
    assert value(parsed, "wtb_parity_mismatches_total", variant="loud") == 2
    assert value(parsed, "wtb_parity_mismatches_total", variant="base") == 0
    assert value(parsed, "wtb_execution_duration_seconds_count", variant="down", backend="threads") == 2
    assert value(parsed, "wtb_execution_duration_seconds_bucket", variant="down", backend="threads", le="+Inf") == 2
    assert value(parsed, "wtb_execution_duration_seconds_sum", variant="down", backend="threads") > 0
    assert value(parsed, "wtb_node_duration_seconds_count", variant="loud", node="answer") == 2
    assert any(name == "wtb_run_info" for name, _ in parsed)


def test_metrics_file_is_a_prometheus_textfile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest("--wtb-metrics=textfile/wtb.prom")
    result.assert_outcomes(passed=2, failed=4)
    path = pytester.path / "textfile" / "wtb.prom"
    result.stdout.fnmatch_lines([f"metrics: {path}"])
    check_metrics(samples(path.read_text()))


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in Pushgateway on 127.0.0.1 that records what it is sent."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_pushgateway_gets_the_run_metrics(pytester: pytest.Pytester, pushgateway: Any) -> None:
    url, received = pushgateway
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest(f"--wtb-pushgateway={url}")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines([f"metrics pushed to {url}"])
    [(method, path, body)] = received
    assert (method, path) == ("PUT", f"/metrics/job/pytest_wtb/instance/{socket.gethostname()}")
    check_metrics(samples(body.decode()))


def test_unreachable_pushgateway_is_reported_and_the_outcomes_stand(pytester: pytest.Pytester) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    pytester.makepyfile(test_flow=MODULE)
    result = pytester.runpytest(f"--wtb-pushgateway=http://127.0.0.1:{port}")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines([f"NOT WRITTEN: metrics push to http://127.0.0.1:{port} failed: *"])


def test_prometheus_client_is_imported_only_when_metrics_are_asked_for(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        '''
import sys

def pytest_unconfigure(config):
    print("PROM:", "prometheus_client" in sys.modules)
'''
    )
    pytester.makepyfile(test_flow=MODULE)
    without = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    without.stdout.fnmatch_lines(["PROM: False"])
    with_metrics = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "--wtb-metrics=m.prom")
    with_metrics.stdout.fnmatch_lines(["PROM: True"])


def test_missing_prometheus_client_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from pytest_wtb.errors import ConfigError
    from pytest_wtb.report import metrics

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"--wtb-metrics needs prometheus_client.*pytest-wtb\[metrics\]"):
        metrics.check_available("--wtb-metrics")

"""Headless Chromium over the DevTools protocol (a websocket), enough to test the HTML report:
load a page, wait for a condition, click like a user, read the DOM, take a screenshot.

Also a command for the README screenshot:
    python -m tests.plugin.browser REPORT.html OUT.png [CELL_TITLE_PREFIX]
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
)
TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str, width: int = 1400, height: int = 900) -> None:
        self._profile = tempfile.mkdtemp(prefix="wtb-chromium-")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(self._devtools_url(), max_size=None, open_timeout=TIMEOUT_S)
        )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _devtools_url(self) -> str:
        found: list[str] = []
        ready = threading.Event()
        stderr: list[str] = []

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                stderr.append(line)
                if line.startswith("DevTools listening on "):
                    found.append(line.split(" on ", 1)[1].strip())
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(TIMEOUT_S) or not found:
            self.close()
            raise RuntimeError("chromium did not start:\n" + "".join(stderr[-20:]))
        return found[0]

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> Any:
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _wait_event(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout_s: float = 10.0) -> bool:
        """True once the JS ``condition`` holds (checked every animation frame), False after the timeout."""
        return bool(self.evaluate(
            f"new Promise((done) => {{ const t0 = Date.now(); (function check() {{"
            f" if ({condition}) done(true); else if (Date.now() - t0 > {timeout_s * 1000}) done(false);"
            f" else requestAnimationFrame(check); }})(); }})"
        ))

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the first element matching ``selector``."""
        box = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return null;"
            f" el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();"
            f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        )
        if box is None:
            raise AssertionError(f"no element matches {selector!r}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}, session=True)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"])
        path.write_bytes(data)
        return data

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def console_errors(self) -> list[str]:
        return [e["params"]["entry"]["text"] for e in self.events
                if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]

    def close(self) -> None:
        if hasattr(self, "ws"):
            with contextlib.suppress(Exception):
                self.send("Browser.close")
            with contextlib.suppress(Exception):
                self._stack.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)


def main(argv: list[str]) -> int:
    report, out = Path(argv[0]).resolve(), Path(argv[1])
    cell = argv[2] if len(argv) > 2 else None
    binary = find_chromium()
    if binary is None:
        print("chromium not found", file=sys.stderr)
        return 1
    browser = Browser(binary, width=1440, height=860)
    try:
        browser.open(report.as_uri())
        browser.wait_for("document.body.dataset.ready === '1'")
        if cell:
            browser.click(f'button.c[title^="{cell}"]')
            browser.wait_for("document.querySelector('#detail h2') !== null")
        browser.screenshot(out)
    finally:
        browser.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

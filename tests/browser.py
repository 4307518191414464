"""A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
JSON messages separated by NUL bytes on file descriptors 3 and 4), with the standard
library only: no websocket client, no browser download (Debian's `chromium` package)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

# Everything that is not the site goes to a closed port on the loopback: the pages load as
# on a machine without a network, whatever this one has.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio", "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1", "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    """Chromium's executable: `GRADFLOW_CHROMIUM`, else `chromium`/`chromium-browser` on
    the PATH."""
    exe = os.environ.get("GRADFLOW_CHROMIUM")
    if exe:
        return shutil.which(exe)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _above_9(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class ProtocolError(RuntimeError):
    pass


class Chromium:
    """One headless browser; `page()` opens a tab and returns its session id."""

    def __init__(self, exe: str, profile: str, width: int = 1280, height: int = 1000):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above fd 9, so that moving them to 3 and 4 clobbers neither.
        to_browser_r, from_browser_w = _above_9(to_browser_r), _above_9(from_browser_w)
        # The browser reads fd 3 and writes fd 4: move the pipe ends there in the child.
        shell = (f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} '
                 f'{to_browser_r}<&- {from_browser_w}>&-')
        self.proc = subprocess.Popen(
            ["bash", "-c", shell, "chromium", exe, *FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.size = (width, height)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    # -- protocol
    def _read(self, deadline: float) -> None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace") if \
                        self.proc.poll() is not None else ""
                    raise ProtocolError(f"Chromium closed the pipe: {err[-2000:]}")
                self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        self.events.append(json.loads(msg))

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 120) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for k, ev in enumerate(self.events):
                if ev.get("id") == self._next_id:
                    del self.events[k]
                    if "error" in ev:
                        raise ProtocolError(f"{method}: {ev['error']}")
                    return ev.get("result", {})
            self._read(deadline)

    def wait_for(self, method: str, session: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return ev
            seen = len(self.events)
            self._read(deadline)

    def drain(self, session: str) -> list[dict]:
        """The events of `session` received so far (removed from the queue)."""
        mine = [e for e in self.events if e.get("sessionId") == session and "method" in e]
        self.events = [e for e in self.events if e not in mine]
        return mine

    # -- pages
    def page(self) -> str:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        w, h = self.size
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        return session

    def navigate(self, session: str, url: str, timeout: float = 120) -> None:
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session, timeout)

    def evaluate(self, session: str, expression: str, timeout: float = 120):
        res = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                             "returnByValue": True}, session, timeout)
        if "exceptionDetails" in res:
            raise ProtocolError(f"{expression[:60]}...: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, session: str, path: str) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (ProtocolError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.proc.stderr.close()


def problems(events: list[dict], site: str) -> list[str]:
    """JavaScript errors, console errors, failed or outside requests among a page's events."""
    out = []
    for ev in events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d["text"]
            out.append(f"JavaScript error: {text}")
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            out.append("console.error: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            out.append(f"logged error: {e['text']} {e.get('url', '')}".strip())
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not url.startswith((site, "data:", "blob:", "about:")):
                out.append(f"requested from outside the site: {url}")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"failed to load ({p['errorText']}): request {p['requestId']}")
    return out

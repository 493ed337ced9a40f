"""Headless Chromium driven over the DevTools protocol (aiohttp's websocket, no new package).

`Browser` loads a `runbook serve` page and reads what its terminal shows: the page's xterm.js
draws on a canvas, so a hook installed before the page's own script keeps a reference to the
terminal, and its screen buffer is read as text. Keys are real key events sent to the page.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

# Keep every object assigned to a `terminal` property (textual-serve's client does
# `this.terminal = new Terminal(...)`) in window.__terminals, then let it be a plain property.
HOOK = """
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(v) {
    if (v && v.buffer) { window.__terminals.push(v); }
    Object.defineProperty(this, 'terminal', {value: v, writable: true, configurable: true,
                                              enumerable: true});
  },
});
"""
SCREEN = """
(() => {
  const t = (window.__terminals || [])[0];
  if (!t) { return ''; }
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < b.length; i++) { rows.push(b.getLine(i).translateToString(true)); }
  return rows.join('\\n');
})()
"""


def chromium_binary() -> str:
    """Chromium's path; skips the test when absent, except in CI where that is a failure."""
    found = next((p for p in (shutil.which(n) for n in
                              ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


class Browser:
    """One headless Chromium with one page, driven over a single DevTools websocket."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)
        self.session = ""

    async def __aenter__(self) -> Browser:
        binary = chromium_binary()
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             "--window-size=1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = await asyncio.to_thread(self._devtools_url)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True},
                                   session=False)
        self.session = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
        return self

    def _devtools_url(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        seen = []
        for raw in self.proc.stderr:  # Chromium says where it listens, then keeps logging
            line = raw.decode(errors="replace")
            seen.append(line)
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError("Chromium did not start:\n" + "".join(seen[-20:]))

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: bool = True) -> dict[str, Any]:
        """Call a DevTools method and return its result (events in between are dropped)."""
        assert self.ws is not None
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        await self.ws.send_str(json.dumps(msg))
        while True:
            reply = json.loads((await self.ws.receive()).data)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression,
                                                      "returnByValue": True})
        return result.get("result", {}).get("value")

    async def screen(self) -> str:
        """The text the page's terminal shows now."""
        return str(await self.evaluate(SCREEN) or "")

    async def wait_for(self, text: str, limit: float = 90) -> str:
        """Wait until the terminal shows `text` (the limit bounds waiting; it asserts nothing
        about speed); returns the screen."""
        deadline = time.monotonic() + limit
        shown = ""
        while time.monotonic() < deadline:
            shown = await self.screen()
            if text in shown:
                return shown
            await asyncio.sleep(0.2)  # polling the page for a condition, not synchronisation
        raise AssertionError(f"the page never showed {text!r}; it shows:\n{shown}")

    async def press(self, key: str) -> None:
        """Type one key (a printable one, or Enter) into the page's terminal, as a person
        would."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        if key == "Enter":
            base: dict[str, Any] = {"key": key, "code": key, "windowsVirtualKeyCode": 13}
            text = "\r"
        else:
            code = f"Key{key.upper()}" if key.isalpha() else ""
            base = {"key": key, "code": code, "windowsVirtualKeyCode": ord(key.upper())}
            text = key
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": text, **base})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **base})

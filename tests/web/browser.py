"""Debian's Chromium driven by Playwright: the browser tests' one way to open a page.

Playwright's own browser download does not work here (and must not be needed), so it
launches /usr/bin/chromium. As root Chromium needs --no-sandbox; background
networking, component updates and sync are off so that it calls nowhere but the
page's own loopback address.
"""
from __future__ import annotations

import contextlib
import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"]


@contextlib.contextmanager
def chromium_page():
    """(page, console errors): the list collects every console error and page error."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()

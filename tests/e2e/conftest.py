"""The end-to-end suite: a real Chromium against a live Depot server. Its fixtures (`browser`, `page`) live in
tests/browser.py, shared with tests/security/."""

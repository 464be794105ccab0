"""A real Chromium driving the web UI."""

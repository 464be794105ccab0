"""Analysis: the measurements the enhancer turns into settings (content type, noise)."""

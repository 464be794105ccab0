"""Small, dependency-light helpers shared by the engine, the CLI and the UI."""

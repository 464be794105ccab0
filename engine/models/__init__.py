"""Models: the registry, weight files and the bundled pack, per-architecture profiles, loading and caching."""

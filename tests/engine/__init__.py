"""The engine on the real bundled models, small images."""

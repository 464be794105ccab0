"""Pure functions and small components: no model weights."""

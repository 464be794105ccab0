"""The CLI's exit statuses (DESIGN "Interfaces")."""
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

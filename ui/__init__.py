"""The Gradio web UI: thin handlers that call the engine and format its results."""

"""The named Gradio API through gradio_client against a running server."""

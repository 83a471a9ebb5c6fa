"""The NLU engines: the embedded one, and the client of a Rasa server."""

"""The web pages the controller serves (static files talking to the same REST API)."""

"""Wire schemas (pydantic): the HTTP contract of the API, the agents and the original protocol."""

"""The Python client over the wire schemas, used by the CLI and the agent."""

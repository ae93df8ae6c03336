"""The controller: FastAPI app factory, one router per resource, the scheduler loop and the agent links."""

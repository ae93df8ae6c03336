"""The node agent: registers, heartbeats telemetry, runs jobs pinned to their cores and reconciles against the controller."""

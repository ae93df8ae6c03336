"""The simulator's defaults that the CLI shows in its help without loading the simulator."""

# The controller's default (heaven.config: steal_headroom), so replays judge what ships.
HEADROOM = 0.25

"""Hot-Plug Heaven: a cluster resource manager that hot-plugs idle cores into waiting jobs."""

__version__ = "0.1.0"

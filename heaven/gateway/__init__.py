"""The gateway: ``POST /submit`` runs a registered operation (``monte_carlo_pi`` built in) on
a worker pinned to its cores, byte-compatible with the container orchestrator it replaces.

Workers are deployments (jobs of kind ``service``) of this product, each a small HTTP server
(``python -m heaven.gateway.worker``) an agent runs pinned to its cores. The parts:

- ``estimate``: the CPU and time a call will take, the original rule first, then learned;
- ``decide``: which worker takes a call, when to spawn or retire one (pure, no I/O);
- ``operations`` and ``montecarlo``: what a worker can run (more by entry point);
- ``worker``: the worker's HTTP server;
- ``pool``: the workers as the controller runs them, and the calls in flight;
- ``app``: the HTTP routes.
"""

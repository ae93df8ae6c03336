"""Node pools that scale: the autoscaler loop and the providers that start and stop nodes.

The decision is pure (heaven.core.autoscale); ``loop.Autoscaler`` builds its view from the
store and the scheduler's why-pending reasons, and carries the actions out through a
``providers.NodeProvider`` (``local`` agent processes, the operator's ``command`` scripts,
``docker`` containers; ``qemu`` registers itself the same way). See docs/autoscaling.md.
"""

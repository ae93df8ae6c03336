"""The simulator: a virtual clock replaying traces through the same scheduling core."""

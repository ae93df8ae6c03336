"""The heaven command line (Typer + Rich)."""

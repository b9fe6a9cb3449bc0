"""Learning Studio's JupyterHub side."""

__version__ = "0.1.0"

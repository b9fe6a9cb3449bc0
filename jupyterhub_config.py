"""JupyterHub configuration for Learning Studio: read settings, apply the config functions. No logic here."""

from pathlib import Path

from studio_hub.config import apply_config
from studio_hub.settings import Settings

c = get_config()  # noqa: F821 -- provided by JupyterHub
apply_config(c, Settings.from_env(root=Path(__file__).resolve().parent))

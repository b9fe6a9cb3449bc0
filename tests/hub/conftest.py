"""Fixtures shared by the hub's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_hub.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "hub",
        content_dir=tmp_path / "content",
        public_url="https://hub.example.org",
        portal_url="https://learn.example.org",
        portal_internal_url="http://portal:8000",
        oauth_client_secret="s3cret",
        crypt_key="ab" * 32,
        proxy_auth_token="proxy-token",
    )

"""How the settings become the Temporal connection's TLS and API key (a cluster or Temporal Cloud)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.service import TLSConfig

from casebridge.settings import Settings
from casebridge.temporal import tls_config


def pem(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(f"-----BEGIN {name.upper()}-----\n".encode())
    return path


def test_plain_grpc_by_default() -> None:
    assert tls_config(Settings()) is False


def test_an_api_key_or_the_flag_turns_on_tls_with_the_system_roots() -> None:
    assert tls_config(Settings(temporal_api_key=SecretStr("key"))) is True
    assert tls_config(Settings(temporal_tls=True)) is True


def test_mtls_reads_the_ca_certificate_and_key(tmp_path: Path) -> None:
    settings = Settings(
        temporal_tls_ca=pem(tmp_path, "ca"),
        temporal_tls_cert=pem(tmp_path, "cert"),
        temporal_tls_key=pem(tmp_path, "key"),
        temporal_tls_server_name="temporal.internal",
    )
    config = tls_config(settings)
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == b"-----BEGIN CA-----\n"
    assert config.client_cert == b"-----BEGIN CERT-----\n"
    assert config.client_private_key == b"-----BEGIN KEY-----\n"
    assert config.domain == "temporal.internal"


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TLS_CERT and CASEBRIDGE_TEMPORAL_TLS_KEY go together"):
        Settings(temporal_tls_cert=pem(tmp_path, "cert"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CASEBRIDGE_TEMPORAL_TLS_CA: no such file"):
        Settings(temporal_tls_ca=tmp_path / "missing.pem")

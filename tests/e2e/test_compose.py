"""docker-compose.yml, the Dockerfile and deploy/: no Docker engine runs here, so the structure is
checked (services, pinned images, health checks, start-up order, secrets, settings names) and the
deploy scripts that can run without Docker run against the embedded PostgreSQL and Temporal."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from casebridge.devstack import free_port, postgres_bin_dir, start_postgres, start_temporal, temporal_executable
from casebridge.devstack.temporal import RETENTION
from casebridge.settings import DEV_SECRET, Settings

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("migrate", "worker", "api")
ONE_SHOT = {"temporal-schema", "temporal-namespace", "migrate"}
LONG_RUNNING = {"postgres", "temporal", "temporal-ui", "worker", "api"}
SECRETS = {"POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "APP_DB_PASSWORD", "CASEBRIDGE_SECRET_KEY"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
CASEBRIDGE_NAME = re.compile(r"\bCASEBRIDGE_[A-Z0-9_]+\b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def resolve(value: str) -> str:
    """Interpolate as `docker compose` would with only the required variables set (to a dummy)."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if operator in ("-", ":-"):
            return argument
        return f"set-{name.lower()}"

    return INTERPOLATION.sub(one, value)


def strings(node: Any) -> list[str]:
    """Every string (keys and values) in a parsed YAML tree."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [str(key), *strings(value)]]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [str(node)] if node is not None else []


def image_parts(image: str) -> tuple[str, str]:
    name, _, tag = resolve(image).rpartition(":")
    return (name, tag) if name and "/" not in tag else (resolve(image), "")


# --- services, images, order ----------------------------------------------------------------


def test_the_whole_system_is_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == ONE_SHOT | LONG_RUNNING
    images = {name: image_parts(service["image"])[0] for name, service in services(compose).items()}
    assert images["postgres"] == "postgres"
    assert images["temporal"] == "temporalio/server"
    assert images["temporal-schema"] == images["temporal-namespace"] == "temporalio/admin-tools"
    assert images["temporal-ui"] == "temporalio/ui"
    assert not any("auto-setup" in image for image in images.values()), "temporalio/auto-setup is deprecated"


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image, tag = image_parts(service["image"])
        assert tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and not tag.startswith("latest-"), f"{name}: {image}:{tag} is not a version"
        assert re.match(r"^v?\d+\.\d+", tag), f"{name}: {image}:{tag} is not an explicit version"
    tags = {name: image_parts(service["image"])[1] for name, service in services(compose).items()}
    # The schema job must migrate to the schema the server expects: bump them together.
    assert tags["temporal-schema"] == tags["temporal-namespace"] == tags["temporal"]


def test_one_image_two_commands(compose: dict[str, Any]) -> None:
    svc = services(compose)
    images = {svc[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, f"the migrate job, API and worker must run one image: {images}"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert image_parts(images.pop())[1] == version, "the image tag follows the version in pyproject.toml"
    for name in APP_SERVICES:
        assert (svc[name]["build"]["context"]) == ".", f"{name} is built from this repository's Dockerfile"
    assert svc["api"]["command"] == ["python", "-m", "casebridge.api"]
    assert svc["worker"]["command"] == ["python", "-m", "casebridge.worker"]
    assert svc["migrate"]["command"] == ["casebridge", "migrate"]


def test_long_running_services_have_health_checks_and_jobs_run_once(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if name in LONG_RUNNING:
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
            assert service.get("restart") in ("unless-stopped", "always"), f"{name} is not restarted"
        else:
            assert "healthcheck" not in service
            assert service.get("restart") == "no", f"one-shot job {name} must not be restarted"


def test_start_up_order_waits_for_health_and_for_the_jobs(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name, service in svc.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert isinstance(spec, dict), f"{name} -> {dependency}: a bare depends_on waits for nothing"
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec.get("condition") == wanted, f"{name} -> {dependency}: expected {wanted}"

    def waits_for(name: str) -> set[str]:
        return set(svc[name].get("depends_on") or {})

    assert waits_for("temporal-schema") == {"postgres"}
    assert waits_for("migrate") == {"postgres"}
    assert waits_for("temporal") == {"postgres", "temporal-schema"}
    assert waits_for("temporal-namespace") == {"temporal"}
    for name in ("worker", "api"):
        assert waits_for(name) >= {"migrate", "temporal", "temporal-namespace"}
    # Every service is reachable from postgres without cycles.
    order: list[str] = []
    while len(order) < len(svc):
        ready = sorted(n for n in svc if n not in order and waits_for(n) <= set(order))
        assert ready, f"depends_on has a cycle among {set(svc) - set(order)}"
        order += ready


def test_workers_scale_out_and_nothing_internal_is_published(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["worker"]["deploy"]["replicas"] >= 2
    for name, service in svc.items():
        assert "container_name" not in service, f"{name}: a fixed container name prevents --scale"
    assert "ports" not in svc["worker"]
    for internal in ("postgres", "temporal"):
        assert "ports" not in svc[internal], f"{internal} has no authentication of its own here"
    for name in ("api", "temporal-ui"):
        for port in svc[name]["ports"]:
            assert resolve(port).startswith("127.0.0.1:"), f"{name} is published beyond loopback by default"


# --- secrets and settings -------------------------------------------------------------------


def test_secrets_are_required_and_have_no_default(compose: dict[str, Any]) -> None:
    uses = [match.groups() for text in strings(compose) for match in INTERPOLATION.finditer(text)]
    secret_uses = [(name, operator) for name, operator, _ in uses if name in SECRETS]
    assert {name for name, _ in secret_uses} == SECRETS
    for name, operator in secret_uses:
        assert operator == ":?", f"${{{name}}} must be required with ${{{name}:?message}}, not {operator!r}"
    for service_name, service in services(compose).items():
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|PWD|SECRET", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{service_name}.{key} is not a required secret"
            if "://" in value and "@" in value:  # a URL with credentials: the password is a secret too
                password = value.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", password), f"{service_name}.{key} has a password"


def test_no_default_password_or_demo_user_anywhere(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert DEV_SECRET not in text
    assert "seed-demo" not in text, "production has no demo users (password demo)"
    for key, value in (kv for service in services(compose).values() for kv in environment(service).items()):
        if re.search(r"PASSWORD|PWD|SECRET", key):
            assert value.lower() not in {"temporal", "postgres", "casebridge", "demo", "changeme", "password"}


def test_every_casebridge_variable_is_a_setting(compose: dict[str, Any]) -> None:
    known = {f"CASEBRIDGE_{name.upper()}" for name in Settings.model_fields}
    sources = {
        "docker-compose.yml": COMPOSE_FILE.read_text(encoding="utf-8"),
        "Dockerfile": DOCKERFILE.read_text(encoding="utf-8"),
        "deploy/env.example": (ROOT / "deploy" / "env.example").read_text(encoding="utf-8"),
    }
    for source, text in sources.items():
        unknown = set(CASEBRIDGE_NAME.findall(text)) - known
        assert not unknown, f"{source} names variables casebridge/settings.py does not read: {sorted(unknown)}"
    for name in APP_SERVICES:
        assert environment(services(compose)[name])["CASEBRIDGE_ENV"] == "prod"


@pytest.mark.parametrize("name", ["worker", "api"])
def test_the_environment_makes_valid_prod_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("CASEBRIDGE_"):
            monkeypatch.delenv(key)
    env = {key: resolve(value) for key, value in environment(services(compose)[name]).items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # validates every value's type and refuses the development secret in prod
    assert settings.env == "prod"
    assert settings.secret_key.get_secret_value() != DEV_SECRET
    assert settings.require_database_url().startswith("postgresql+asyncpg://casebridge:")
    assert settings.require_database_url().endswith("@postgres:5432/casebridge")
    assert settings.require_temporal_address() == "temporal:7233"
    namespace_job = environment(services(compose)["temporal-namespace"])
    assert settings.temporal_namespace == namespace_job["NAMESPACE"]
    if name == "api":
        assert settings.http_host == "0.0.0.0"
    monkeypatch.setenv("CASEBRIDGE_SECRET_KEY", DEV_SECRET)
    with pytest.raises(ValueError, match="development default"):
        Settings()


# --- Temporal and PostgreSQL configuration --------------------------------------------------


def test_temporal_runs_on_postgresql_with_a_long_retention_namespace(compose: dict[str, Any]) -> None:
    svc = services(compose)
    server = environment(svc["temporal"])
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] == "postgres"
    assert (server["DBNAME"], server["VISIBILITY_DBNAME"]) == ("temporal", "temporal_visibility")
    assert int(server["NUM_HISTORY_SHARDS"]) >= 128, "the shard count can never be raised later"
    schema_job = environment(svc["temporal-schema"])
    assert (schema_job["SQL_PLUGIN"], schema_job["SQL_HOST"], schema_job["SQL_USER"]) == (
        "postgres12",
        "postgres",
        server["POSTGRES_USER"],
    )
    retention = environment(svc["temporal-namespace"])["NAMESPACE_RETENTION"]
    assert re.fullmatch(r"\d+d", retention) and int(retention[:-1]) >= RETENTION.days

    dynamic_config = server["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = dict(volume.split(":")[1::-1] for volume in svc["temporal"]["volumes"])
    host_dir = mounts[str(Path(dynamic_config).parent)]
    config = yaml.safe_load((ROOT / host_dir / Path(dynamic_config).name).read_text(encoding="utf-8"))
    assert config["frontend.enableUpdateWorkflowExecution"][0]["value"] is True, "every action is an update"


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    major = int(image_parts(postgres["image"])[1].split(".")[0])
    targets = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    # From PostgreSQL 18 the image keeps PGDATA under /var/lib/postgresql/<major>/docker.
    data_target = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert targets[data_target] in compose["volumes"], "the database must live in a named volume"
    assert "/docker-entrypoint-initdb.d" in targets


def test_every_mounted_file_and_script_exists(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
        entrypoint = service.get("entrypoint") or []
        if entrypoint[:1] == ["/bin/sh"]:
            mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
            script = Path(entrypoint[1])
            assert (ROOT / mounts[str(script.parent)] / script.name).is_file()
    for script in (ROOT / "deploy").rglob("*.sh"):
        subprocess.run(["sh", "-n", str(script)], check=True)  # syntax


def test_health_checks_use_the_script_the_image_carries(compose: dict[str, Any]) -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    copied = re.search(r"^COPY\s+deploy/healthcheck\.py\s+(\S+)", dockerfile, re.MULTILINE)
    assert copied, "the Dockerfile must copy deploy/healthcheck.py"
    for name in ("worker", "api"):
        assert services(compose)[name]["healthcheck"]["test"] == ["CMD", "python", copied.group(1), name]


# --- Dockerfile, build context, pins --------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_one_non_root_image_without_dev_extras() -> None:
    instructions = dockerfile_instructions()
    args = {v.split("=", 1)[0]: v.split("=", 1)[1] for k, v in instructions if k == "ARG" and "=" in v}
    for kind, value in instructions:
        if kind == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], value.split()[0])
            tag = image.rpartition(":")[2]
            assert re.match(r"^3\.1[1-9]\.\d+-slim", tag), f"base image {image} is not a pinned python slim"
    users = [value for kind, value in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must run as a non-root user"
    installs = [value for kind, value in instructions if kind == "RUN" and "pip install" in value]
    assert any(re.search(r"pip install\b.*\s\.(\s|$)", value) for value in installs), "pip install . (the project)"
    assert not any("[dev]" in value or "-e " in value for value in installs), "no dev extras, no editable install"
    assert ("CMD", '["python", "-m", "casebridge.api"]') in instructions, "the default command is the API"


def test_build_context_leaves_secrets_and_local_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "**" in ignored, "allow-list the build context"
    for needed in ("!casebridge/", "!pyproject.toml", "!deploy/constraints.txt", "!deploy/healthcheck.py"):
        assert needed in ignored
    assert "**/.env" in ignored and "**/.data" in ignored


def test_constraints_pin_every_dependency_within_pyproject() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned: run deploy/constraints.py (docs/production.md)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside {requirement}: regenerate deploy/constraints.txt"
        )


# --- the deploy scripts, run for real -------------------------------------------------------


def test_postgres_init_gives_each_system_its_own_role_and_database(tmp_path: Path) -> None:
    from casebridge.db.migrate import upgrade

    script = ROOT / "deploy" / "postgres" / "initdb" / "10-casebridge-databases.sh"
    with start_postgres(tmp_path, free_port(), database="postgres") as pg:
        env = {
            **os.environ,
            "PATH": f"{postgres_bin_dir()}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg.port),
            "POSTGRES_USER": "postgres",
            "TEMPORAL_DB_PASSWORD": "it's-a-temporal-secret",
            "APP_DB_PASSWORD": "app-secret",
        }

        def psql(user: str, database: str, sql: str) -> subprocess.CompletedProcess[str]:
            argv = ["psql", "-XAt", "-U", user, "-d", database, "-c", sql]
            return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)

        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        owners = psql("postgres", "postgres", "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database")
        assert {"temporal=temporal", "temporal_visibility=temporal", "casebridge=casebridge"} <= set(
            owners.stdout.split()
        )
        roles = psql("postgres", "postgres", "SELECT rolname FROM pg_roles WHERE rolsuper AND rolname <> 'postgres'")
        assert roles.stdout.strip() == "", "neither system gets a superuser"
        assert psql("casebridge", "temporal", "SELECT 1").returncode != 0, "the app cannot open Temporal's data"
        assert psql("temporal", "casebridge", "SELECT 1").returncode != 0, "Temporal cannot open the app's data"
        # The migrate job runs as the casebridge role, not as a superuser.
        upgrade(f"postgresql+asyncpg://casebridge@127.0.0.1:{pg.port}/casebridge")
        tables = psql("casebridge", "casebridge", "SELECT count(*) FROM pg_tables WHERE tableowner = 'casebridge'")
        assert int(tables.stdout) >= 4


def test_namespace_job_creates_the_namespace_once_with_long_retention(tmp_path: Path) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    from casebridge.devstack.processes import run_sync

    script = ROOT / "deploy" / "temporal" / "create-namespace.sh"
    with start_temporal(tmp_path, free_port(), None, "default") as temporal:
        env = {
            **os.environ,
            "PATH": f"{temporal_executable().parent}{os.pathsep}{os.environ['PATH']}",
            "TEMPORAL_ADDRESS": temporal.address,
            "NAMESPACE": "casebridge",
            "NAMESPACE_RETENTION": "3650d",
        }
        for _ in range(2):  # idempotent: the second run finds the namespace and leaves it working
            result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stdout + result.stderr

        async def retention_days() -> int:
            client = await Client.connect(temporal.address, namespace="casebridge")
            described = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="casebridge")
            )
            return described.config.workflow_execution_retention_ttl.ToTimedelta().days

        assert run_sync(retention_days()) == 3650

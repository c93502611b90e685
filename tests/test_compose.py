"""docker-compose.yml, the Dockerfile and the S3A settings, checked without a Docker engine.

No Docker engine runs where these tests run, so nothing is started. The
compose file is validated against the Compose Specification's JSON schema,
tests/fixtures/compose-spec.json (see tests/fixtures/compose-spec.NOTICE for
where that copy comes from), and checked for what the cluster needs. Where the
`docker compose` CLI plugin is installed, `docker compose config` checks it too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pyspark
import pytest
import yaml

from lakehouse.config import PROJECT_DIR
from lakehouse.spark import object_store_conf, s3a_classpath

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
DOCKERFILE = PROJECT_DIR / "Dockerfile"
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec.json"
POM = PROJECT_DIR / "scripts" / "jvm" / "pom.xml"
MASTER_URL = "spark://spark-master:7077"
STREAMING_JOBS = {
    "bronze": "jobs/bronze.py",
    "silver": "jobs/silver.py",
    "gold": "jobs/gold.py",
    "live": "jobs/live.py",
}
# Servers that run until stopped; one-shot containers (minio-init, simulator, train) have none.
LONG_RUNNING = {
    "kafka",
    "minio",
    "spark-master",
    "spark-worker-1",
    "spark-worker-2",
    "mlflow",
    "dashboard",
    *STREAMING_JOBS,
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|JAAS")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _pom_property(name: str) -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    value = ET.parse(POM).getroot().find(f"m:properties/m:{name}", namespace)
    assert value is not None, f"{name} missing from {POM}"
    return value.text or ""


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def test_the_file_follows_the_compose_specification(compose):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(compose)]
    assert errors == []


def _compose_plugin() -> str | None:
    """The docker client if its compose plugin answers, else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return docker if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file_with_the_example_env():
    docker = _compose_plugin()
    if docker is None:
        pytest.skip("the docker compose CLI plugin is not installed here; the schema test stands")
    checked = subprocess.run(
        [docker, "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "change-me-app-secret" in checked.stdout  # the example's values were interpolated


def test_every_role_of_the_cluster_is_a_service(services):
    assert LONG_RUNNING | {"minio-init", "simulator", "train"} == set(services)


def test_servers_have_health_checks_and_restart(services):
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name


def test_images_are_pinned_and_the_app_image_carries_the_project_version(services):
    version = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image}"
        if "build" in service:
            assert image == f"live-shopping-lakehouse:{version}", name


def test_kafka_runs_the_broker_version_of_the_project(services):
    assert services["kafka"]["image"] == f"apache/kafka:{_pom_property('kafka.version')}"
    environment = services["kafka"]["environment"]
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_streaming_jobs_are_submitted_to_the_standalone_master(services):
    for name, script in STREAMING_JOBS.items():
        job = services[name]
        assert _command(job)[:2] == ["scripts/submit.sh", script], name
        environment = job["environment"]
        assert environment["SPARK_MASTER"] == MASTER_URL, name
        submit_args = environment["SPARK_SUBMIT_ARGS"].split()
        # Executors connect back to the driver by its container name.
        assert f"spark.driver.host={job['hostname']}" in submit_args, name
        # Without a cap the first application takes every core of the cluster.
        assert any(arg.startswith("spark.cores.max=") for arg in submit_args), name
        assert job["depends_on"]["spark-master"]["condition"] == "service_healthy", name


def test_two_workers_register_with_the_master(services):
    for name in ("spark-worker-1", "spark-worker-2"):
        command = _command(services[name])
        assert command[:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", MASTER_URL]
    master = _command(services["spark-master"])
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert master[master.index("--port") + 1] == "7077"


def test_state_lives_in_named_volumes(compose, services):
    declared = set(compose["volumes"])
    for name in ("kafka", "minio", "mlflow", "spark-worker-1", "spark-worker-2"):
        mounted = {volume.split(":")[0] for volume in services[name]["volumes"]}
        assert mounted and mounted <= declared, name


def test_tables_and_checkpoints_live_on_object_storage(services):
    for name in (*STREAMING_JOBS, "dashboard", "spark-worker-1", "spark-worker-2"):
        environment = services[name]["environment"]
        assert environment["LAKEHOUSE_ROOT"].startswith("s3a://"), name
        assert environment["AWS_ENDPOINT_URL"] == "http://minio:9000", name
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_published_ports_listen_on_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_no_secret_is_written_into_the_file(services):
    for name, service in services.items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", str(value)), f"{name}.{key}"


def test_the_example_env_file_sets_every_required_variable_and_env_is_ignored():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    example = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required and required <= example
    for ignore_file in (".gitignore", ".dockerignore"):
        assert ".env" in (PROJECT_DIR / ignore_file).read_text().split(), ignore_file


def test_the_dockerfile_pins_its_base_and_installs_through_setup_with_s3a():
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1))
    assert "openjdk-17-jre-headless" in text
    assert "bash scripts/setup.sh --s3a" in text
    assert ":latest" not in text


def test_the_s3a_jars_match_the_hadoop_that_pyspark_ships():
    jars = Path(pyspark.__file__).parent / "jars"
    shipped = sorted(jar.name for jar in jars.glob("hadoop-client-api-*.jar"))
    assert shipped == [f"hadoop-client-api-{_pom_property('hadoop.version')}.jar"]


def test_object_store_settings_come_from_the_standard_aws_variables():
    environ = {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_SECRET_ACCESS_KEY": "never-in-conf",
    }
    assert object_store_conf(environ) == {
        "spark.hadoop.fs.s3a.endpoint": "http://minio:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
    }
    assert object_store_conf({}) == {}


def test_the_s3a_jars_go_on_the_class_path_only_once_resolved(tmp_path):
    assert s3a_classpath(tmp_path) == {}
    (tmp_path / "hadoop-aws-3.4.2.jar").touch()
    assert s3a_classpath(tmp_path) == {
        "spark.driver.extraClassPath": f"{tmp_path}/*",
        "spark.executor.extraClassPath": f"{tmp_path}/*",
    }

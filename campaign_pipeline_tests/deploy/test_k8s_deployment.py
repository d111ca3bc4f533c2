"""The Kubernetes deployment files (``deploy/k8s``) against the pinned Dagster family, the
Helm chart's value names and dagster-k8s / dagster-aws's own config schemas, without a
cluster, a registry or the network.

- The versions: pyproject.toml's Dagster pins are the installed ones; the chart version and
  the webserver and daemon image tags in values.yaml are the installed dagster's; the code
  location image is the project's version, built from Python 3.11 with the ``k8s`` extra.
- values.yaml validates against ``CHART_VALUES_SCHEMA``, the chart's value names and types
  for the parts this file sets (written for this test from the chart's schema of the 1.13
  series; where the chart accepts several shapes it keeps the one this file uses).
- The instance settings the chart renders from values.yaml (run launcher, run coordinator,
  compute logs) validate against ``K8sRunLauncher``, ``QueuedRunCoordinator`` and
  ``S3ComputeLogManager``; k8s_job_executor.yaml validates as run config of a job on
  ``k8s_job_executor``.
- A step pod is built with dagster-k8s's own functions, merging the launcher, the code
  location and the executor as the executor does: a bucket step gets 2 GiB, a fit 4 GiB, the
  object-store Secret, the customer-file volume and the CAMPAIGN_* variables.
- Broken copies of the files fail each of these checks.
"""

import copy
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster
from packaging.requirements import Requirement
import jsonschema
import kubernetes
import pytest
import yaml
from dagster import (
    DagsterInvalidConfigError,
    QueuedRunCoordinator,
    job,
    op,
    validate_run_config,
)
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

from campaign_pipeline.definitions import defs

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

# What `helm upgrade --install dagster ... --namespace campaign` names (values.yaml's header).
RELEASE, NAMESPACE = "dagster", "campaign"
BUCKET_STEP = "scored_customers"  # a per-customer step: one bucket of one partition
FIT_STEP = "response_model"  # a fit on the stratified sample


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((K8S_DIR / name).read_text())


# --- the chart's value names, for the parts values.yaml sets --------------------------------


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these keys; ``{}`` marks a chart key this file leaves alone."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _chart_keys(*names: str) -> dict[str, Any]:
    return {name: {} for name in names}


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_K8S_OBJECT = {"type": "object"}  # Kubernetes API objects; dagster-k8s builds them below
_IMAGE = _object(
    {
        "repository": {"type": "string"},
        "tag": {"type": "string"},
        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    },
    required=("repository", "tag", "pullPolicy"),
)
_NAMED_REFS = {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
_K8S_LIST = {"type": "array", "items": _K8S_OBJECT}
_SERVICE_KEYS = (
    "env", "envConfigMaps", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe",
    "startupProbe", "annotations", "schedulerName", "volumeMounts", "volumes",
)
_TAG_LIMIT = _object(
    {
        "key": {"type": "string"},
        "value": {"oneOf": [{"type": "string"}, _object({"applyLimitPerUniqueValue": {"type": "boolean"}})]},
        "limit": {"type": "integer"},
    },
    required=("key", "limit"),
)

CHART_VALUES_SCHEMA: dict[str, Any] = _object(
    {
        **_chart_keys(
            "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
            "scheduler", "pythonLogs", "busybox", "migrate", "telemetry", "serviceAccount", "global",
            "retention", "concurrency", "additionalInstanceConfig",
        ),
        "dagsterWebserver": _object(
            {
                **_chart_keys(*_SERVICE_KEYS, "replicaCount", "nameOverride", "service", "workspace", "enableReadOnly",
                              "dbStatementTimeout", "dbPoolRecycle", "logLevel", "pathPrefix"),
                "image": _IMAGE,
                "envSecrets": _NAMED_REFS,
            }
        ),
        "dagsterDaemon": _object(
            {
                **_chart_keys(*_SERVICE_KEYS, "enabled", "heartbeatTolerance", "runMonitoring", "runRetries",
                              "sensors", "schedules"),
                "image": _IMAGE,
                "envSecrets": _NAMED_REFS,
                "runCoordinator": _object(
                    {
                        "enabled": {"type": "boolean"},
                        "type": {"const": "QueuedRunCoordinator"},
                        "config": _object(
                            {
                                "queuedRunCoordinator": _object(
                                    {
                                        **_chart_keys("dequeueIntervalSeconds", "dequeueNumWorkers", "dequeueUseThreads"),
                                        "maxConcurrentRuns": {"type": "integer"},
                                        "tagConcurrencyLimits": {"type": "array", "items": _TAG_LIMIT},
                                    }
                                )
                            }
                        ),
                    },
                    required=("enabled", "type", "config"),
                ),
            }
        ),
        "dagster-user-deployments": _object(
            {
                **_chart_keys("enableSubchart", "imagePullSecrets"),
                "enabled": {"type": "boolean"},
                "deployments": {
                    "type": "array",
                    "items": {
                        **_object(
                            {
                                **_chart_keys("annotations", "nodeSelector", "affinity", "tolerations",
                                              "podSecurityContext", "livenessProbe", "readinessProbe",
                                              "startupProbe", "labels", "schedulerName", "envConfigMaps"),
                                "name": {"type": "string"},
                                "image": _IMAGE,
                                "port": {"type": "integer"},
                                "dagsterApiGrpcArgs": {"type": "array", "items": {"type": "string"}},
                                "codeServerArgs": {"type": "array", "items": {"type": "string"}},
                                "includeConfigInLaunchedRuns": _object({"enabled": {"type": "boolean"}}, ("enabled",)),
                                "env": _STRING_MAP,
                                "envSecrets": _NAMED_REFS,
                                "volumes": _K8S_LIST,
                                "volumeMounts": _K8S_LIST,
                                "resources": _K8S_OBJECT,
                                "securityContext": _K8S_OBJECT,
                            },
                            required=("name", "image", "port"),
                        ),
                        # The chart starts `dagster api grpc` or `dagster code-server start`: one of them.
                        "oneOf": [{"required": ["dagsterApiGrpcArgs"]}, {"required": ["codeServerArgs"]}],
                    },
                },
            },
            required=("enabled", "deployments"),
        ),
        "runLauncher": _object(
            {
                "type": {"const": "K8sRunLauncher"},
                "config": _object(
                    {
                        "k8sRunLauncher": _object(
                            {
                                **_chart_keys("image", "kubeconfigFile", "envConfigMaps", "envVars", "volumeMounts",
                                              "volumes", "labels", "failPodOnRunFailure", "resources", "schedulerName"),
                                "jobNamespace": {"type": "string"},
                                "loadInclusterConfig": {"type": "boolean"},
                                "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                                "envSecrets": _NAMED_REFS,
                                "securityContext": _K8S_OBJECT,
                                "runK8sConfig": _object(
                                    {
                                        key: _K8S_OBJECT
                                        for key in ("containerConfig", "podSpecConfig", "podTemplateSpecMetadata",
                                                    "jobSpecConfig", "jobMetadata")
                                    }
                                ),
                            }
                        )
                    }
                ),
            },
            required=("type", "config"),
        ),
        "postgresql": _object(
            {
                **_chart_keys("image", "postgresqlPassword", "postgresqlParams", "service"),
                "enabled": {"type": "boolean"},
                "postgresqlHost": {"type": "string"},
                "postgresqlUsername": {"type": "string"},
                "postgresqlDatabase": {"type": "string"},
                "postgresqlScheme": {"type": "string"},
            }
        ),
        "generatePostgresqlPasswordSecret": {"type": "boolean"},
        "computeLogManager": _object(
            {
                "type": {"const": "S3ComputeLogManager"},
                "config": _object(
                    {
                        "s3ComputeLogManager": _object(
                            {
                                **_chart_keys("localDir", "useSsl", "verify", "verifyCertPath", "endpointUrl",
                                              "skipEmptyFiles", "uploadInterval", "uploadExtraArgs", "showUrlOnly",
                                              "region"),
                                "bucket": {"type": "string"},
                                "prefix": {"type": "string"},
                            },
                            required=("bucket",),
                        )
                    }
                ),
            },
            required=("type", "config"),
        ),
    }
)


# --- what the chart renders from values.yaml --------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _names(refs: list[dict[str, str]]) -> list[str]:
    return [ref["name"] for ref in refs]


def run_launcher_config(values: dict[str, Any]) -> dict[str, Any]:
    """``run_launcher.config`` of the instance ConfigMap, as the chart renders it from
    ``runLauncher.config.k8sRunLauncher`` (and its own names for the release's objects)."""
    chart = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "job_namespace": NAMESPACE,
        "service_account_name": RELEASE,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": "dagster-postgresql-secret",
    }
    for key, value in chart.items():
        if key in ("envSecrets", "envConfigMaps"):
            value = _names(value)
        elif key == "runK8sConfig":
            value = {_snake(part): settings for part, settings in value.items()}
        config[_snake(key)] = value
    return config


def code_location_container_context(values: dict[str, Any]) -> dict[str, Any]:
    """What ``includeConfigInLaunchedRuns`` hands to the runs of the code location."""
    deployment = values["dagster-user-deployments"]["deployments"][0]
    context = {
        "env_vars": [f"{name}={value}" for name, value in deployment["env"].items()],
        "env_secrets": _names(deployment["envSecrets"]),
        "volumes": deployment["volumes"],
        "volume_mounts": deployment["volumeMounts"],
    }
    if "resources" in deployment:
        context["resources"] = deployment["resources"]
    return {"k8s": context}


def image_name(image: dict[str, str]) -> str:
    return f"{image['repository']}:{image['tag']}"


def _config_errors(config_type: Any, value: dict[str, Any]) -> list[str]:
    result = process_config(config_type, value)
    return [] if result.success else [error.message for error in result.errors]


@op
def _noop() -> None:
    pass


@job(executor_def=k8s_job_executor)
def _job_on_k8s() -> None:
    _noop()


def executor_config_errors(run_config: dict[str, Any]) -> list[str]:
    """Errors of ``run_config`` as the run config of a job whose executor is k8s_job_executor."""
    try:
        validate_run_config(_job_on_k8s, run_config)
    except DagsterInvalidConfigError as error:
        return [str(error)]
    return []


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory) -> Path:
    """A kubeconfig for a cluster nobody calls: K8sRunLauncher loads one when it is built
    outside a cluster, and nothing here sends a request."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    return path


def step_container(
    values: dict[str, Any], executor: dict[str, Any], step: str, kubeconfig: Path
) -> kubernetes.client.V1Container:
    """The container of ``step``'s pod, merged as ``K8sStepHandler`` merges it: the run
    launcher, then the code location's context, then the executor, then the step's override."""
    launcher_config = {**run_launcher_config(values), "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    processed = process_config(K8sRunLauncher.config_type(), launcher_config)
    assert processed.success, processed.errors
    launcher = K8sRunLauncher(**processed.value)  # type: ignore[arg-type]

    deployment = values["dagster-user-deployments"]["deployments"][0]
    origin = RepositoryPythonOrigin(
        executable_path=sys.executable,
        code_pointer=ModuleCodePointer(deployment["codeServerArgs"][1], "defs", working_directory=None),
        container_image=image_name(deployment["image"]),
        container_context=code_location_container_context(values),
    )
    run = DagsterRun(job_name="nightly_rescore", job_code_origin=JobPythonOrigin("nightly_rescore", origin))

    config = executor["execution"]["config"]
    context = (
        K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
        .merge(K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("step_k8s_config", {}))))
        .merge(K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config["per_step_k8s_config"].get(step, {}))))
    )
    k8s_job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(None, launcher).with_image(origin.container_image),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
    )
    (container,) = k8s_job.spec.template.spec.containers
    return container


# --- the checks ---------------------------------------------------------------------------------


def _pins() -> dict[str, str]:
    requirements = [*PYPROJECT["project"]["dependencies"]]
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        requirements.extend(extra)
    pinned = [Requirement(r) for r in requirements if "==" in r]
    return {requirement.name: str(requirement.specifier).removeprefix("==") for requirement in pinned}


def test_the_dagster_family_is_pinned_to_what_is_installed():
    major, minor, patch = dagster.__version__.split(".")
    # Dagster releases its libraries in lockstep: 1.<m>.<p> with integrations 0.<m+16>.<p>.
    family = {dagster.__version__, f"0.{int(minor) + 16}.{patch}"}
    pins = {name: version for name, version in _pins().items() if name.startswith("dagster")}
    assert major == "1" and pins["dagster"] == dagster.__version__
    for name, version in pins.items():
        assert version in family, f"{name}=={version} is not of dagster {dagster.__version__}'s family"
        assert importlib.metadata.version(name) == version, name
    k8s_extra = {re.split(r"==", r)[0] for r in PYPROJECT["project"]["optional-dependencies"]["k8s"]}
    assert {"dagster-k8s", "dagster-aws", "s3fs"} <= k8s_extra


def test_the_image_installs_the_project_for_its_python_and_serves_the_code_location():
    dockerfile = (K8S_DIR / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.13"
    assert 'RUN pip install ".[k8s]"' in instructions
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user.isdigit() and int(user) != 0, "a numeric, non-root user (runAsNonRoot checks it)"
    deployment = load("values.yaml")["dagster-user-deployments"]["deployments"][0]
    assert re.findall(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE) == [str(deployment["port"])]
    module = PYPROJECT["tool"]["dagster"]["module_name"]
    assert f'"-m", "{module}"]' in dockerfile
    assert deployment["codeServerArgs"] == ["-m", module]
    # The build context leaves out the environment, the history and the outputs.
    assert {".git", ".venv", "data"} <= set((REPO_ROOT / ".dockerignore").read_text().splitlines())


def test_chart_version_and_images_follow_the_pinned_dagster():
    text = (K8S_DIR / "values.yaml").read_text()
    values = yaml.safe_load(text)
    scaling = (REPO_ROOT / "docs" / "scaling.md").read_text()
    chart_versions = re.findall(r"--version (\S+)", text + scaling) + re.findall(r"chart version (\S+?)[:.]?\s", text)
    assert len(chart_versions) >= 3 and set(chart_versions) == {dagster.__version__}
    for service in ("dagsterWebserver", "dagsterDaemon"):
        assert values[service]["image"]["tag"] == dagster.__version__, service
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["image"]["tag"] == PYPROJECT["project"]["version"]


def test_values_use_the_chart_value_names_and_types():
    jsonschema.validate(load("values.yaml"), CHART_VALUES_SCHEMA)


def test_values_set_the_campaign_environment_for_object_storage_and_the_k8s_executor():
    deployment = load("values.yaml")["dagster-user-deployments"]["deployments"][0]
    env = deployment["env"]
    assert env["CAMPAIGN_DATA_DIR"].startswith("s3://")
    assert env["CAMPAIGN_EXECUTOR"] == "k8s"
    assert int(env["CAMPAIGN_PARTITIONS"]) >= 2
    (mount,) = deployment["volumeMounts"]
    assert env["CAMPAIGN_RAW_CSV"].startswith(mount["mountPath"] + "/") and mount["readOnly"]
    assert deployment["envSecrets"] and deployment["includeConfigInLaunchedRuns"]["enabled"]


def test_the_rendered_instance_settings_validate_against_their_classes():
    values = load("values.yaml")
    assert _config_errors(K8sRunLauncher.config_type(), run_launcher_config(values)) == []
    s3_logs = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert _config_errors(S3ComputeLogManager.config_type(), {_snake(k): v for k, v in s3_logs.items()}) == []
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert _config_errors(QueuedRunCoordinator.config_type(), {_snake(k): v for k, v in queued.items()}) == []


def test_the_executor_config_is_run_config_for_k8s_job_executor():
    executor = load("k8s_job_executor.yaml")
    assert executor_config_errors(executor) == []
    ops = {key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(executor["execution"]["config"]["per_step_k8s_config"]) <= ops


def test_a_bucket_step_pod_gets_2_gib_and_a_fit_4_gib_with_the_campaign_environment(kubeconfig):
    values, executor = load("values.yaml"), load("k8s_job_executor.yaml")
    deployment = values["dagster-user-deployments"]["deployments"][0]
    for step, memory in ((BUCKET_STEP, "2Gi"), (FIT_STEP, "4Gi")):
        container = step_container(values, executor, step, kubeconfig)
        assert container.resources.limits == {"memory": memory}, step
        assert container.resources.requests == {"cpu": "1", "memory": memory}, step
        assert container.image == image_name(deployment["image"])
        assert container.security_context.run_as_non_root is True
        env = {var.name: var for var in container.env}
        for name, value in deployment["env"].items():
            assert env[name].value == value, name
        assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
        assert [source.secret_ref.name for source in container.env_from if source.secret_ref] == ["campaign-object-store"]
        assert [(m.name, m.mount_path, m.read_only) for m in container.volume_mounts] == [
            ("customer-files", "/mnt/customer-files", True)
        ]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for key in parents:
            document = document[int(key)] if key.isdigit() else document[key]  # type: ignore[index]
        document[last] = value

    return change


def _values_schema_errors(values: dict[str, Any]) -> list[str]:
    return [error.message for error in jsonschema.Draft202012Validator(CHART_VALUES_SCHEMA).iter_errors(values)]


DEPLOYMENT = "dagster-user-deployments/deployments/0"
LAUNCHER = "runLauncher/config/k8sRunLauncher"


@pytest.mark.parametrize(
    ("document", "change", "errors"),
    [
        # The chart's env values are strings: an unquoted number is refused.
        ("values.yaml", _set(f"{DEPLOYMENT}/env/CAMPAIGN_PARTITIONS", 32), _values_schema_errors),
        ("values.yaml", _set(f"{DEPLOYMENT}/envSecret", [{"name": "campaign-object-store"}]), _values_schema_errors),
        ("values.yaml", _set(f"{DEPLOYMENT}/dagsterApiGrpcArgs", ["-m", "campaign_pipeline.definitions"]), _values_schema_errors),
        ("values.yaml", _set("runLauncher/type", "K8sRunLauncherr"), _values_schema_errors),
        ("values.yaml", _set("dagsterWebserver/image/tag", 1.13), _values_schema_errors),
        # The rendered launcher config is refused by K8sRunLauncher's schema.
        ("values.yaml", _set(f"{LAUNCHER}/loadInclusterConfig", "yes"),
         lambda v: _config_errors(K8sRunLauncher.config_type(), run_launcher_config(v))),
        ("values.yaml", _set(f"{LAUNCHER}/runK8sConfig", {"containerConfig": {}, "stepConfig": {}}),
         lambda v: _config_errors(K8sRunLauncher.config_type(), run_launcher_config(v))),
        ("values.yaml", _set("computeLogManager/config/s3ComputeLogManager/bucket", None),
         lambda v: _config_errors(S3ComputeLogManager.config_type(), v["computeLogManager"]["config"]["s3ComputeLogManager"])),
        # The executor's run config is refused by k8s_job_executor's schema.
        ("k8s_job_executor.yaml", _set("execution/config/max_concurent", 4), executor_config_errors),
        ("k8s_job_executor.yaml", _set("execution/config/per_step_k8s_config/response_model", {"resources": {}}),
         executor_config_errors),
        ("k8s_job_executor.yaml", _set("execution/executor", "k8s"), executor_config_errors),
    ],
)
def test_a_broken_copy_fails(document, change, errors):
    broken = copy.deepcopy(load(document))
    change(broken)
    assert errors(broken)


def test_code_server_resources_would_shrink_every_step_pod(kubeconfig):
    """Why values.yaml gives the user deployment no ``resources``: the code location's
    context is merged over the run launcher's, so its size would become every step's."""
    values = copy.deepcopy(load("values.yaml"))
    values["dagster-user-deployments"]["deployments"][0]["resources"] = {"limits": {"memory": "1Gi"}}
    container = step_container(values, load("k8s_job_executor.yaml"), BUCKET_STEP, kubeconfig)
    assert container.resources.limits == {"memory": "1Gi"}


def test_a_kubernetes_typo_fails_when_the_step_pod_is_built(kubeconfig):
    executor = copy.deepcopy(load("k8s_job_executor.yaml"))
    # Valid to the executor's schema (container_config is free-form), refused by Kubernetes' model.
    executor["execution"]["config"]["per_step_k8s_config"][FIT_STEP] = {"container_config": {"resource": {}}}
    assert executor_config_errors(executor) == []
    with pytest.raises(Exception, match="Unexpected keys in model class V1Container"):
        step_container(load("values.yaml"), executor, FIT_STEP, kubeconfig)

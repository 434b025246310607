"""deploy/: every file passes its validator, and the pieces name each other correctly.

Real tools where Debian has them (promtool, amtool); the published Compose schema
(vendored by check-jsonschema) for the compose file; Kubernetes' own OpenAPI schemas
(kubernetes-validate) for core objects; the fields that matter for the custom resources
(ServiceMonitor, KEDA), whose schemas no package ships.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from config.loader import load_settings
from tests.conftest import require_binary
from tests.processes import PATIENCE, run_cli

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30"
HINT = "install it with .ci/install-alerting-tools"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """``(file, object)`` of every Kubernetes object under deploy/kubernetes."""
    files = sorted(KUBE.rglob("*.yaml"))
    return [
        (str(f.relative_to(KUBE)), d)
        for f in files
        if f.name != "kustomization.yaml"
        for d in documents(f)
    ]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in manifests() if d["kind"] == kind]


def secret_files(tmp_path: Path, text: str) -> str:
    """``text`` with every ``*_file`` path replaced by a file in ``tmp_path`` holding a
    plausible value (the configuration reads them when it loads)."""
    values = {
        "url": "postgresql+psycopg://reader@db.example/helpdesk",
        "secret": "whsec_" + "A" * 44,
    }

    def swap(match: re.Match[str]) -> str:
        key, path = match.group(1), match.group(2)
        local = tmp_path / Path(path).name
        local.write_text(values.get(key, "token"), encoding="utf-8")
        return f"{key}_file: {local}"

    return re.sub(r"(\w+)_file: (\S+)", swap, text)


def compose() -> dict[str, Any]:
    return documents(DEPLOY / "compose.yaml")[0]


class TestCompose:
    def test_matches_the_compose_specification(self) -> None:
        """check-jsonschema's vendored compose-spec schema accepts deploy/compose.yaml."""
        done = subprocess.run(
            [
                *(sys.executable, "-m", "check_jsonschema"),
                *("--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")),
            ],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def test_every_mounted_file_is_in_the_repository(self) -> None:
        """Each bind mount's host path (relative to deploy/) exists."""
        for name, service in compose()["services"].items():
            for volume in service.get("volumes", []):
                host = volume.split(":")[0]
                if host.startswith("."):
                    assert (DEPLOY / host).exists(), f"{name}: {host}"

    def test_prometheus_scrapes_the_name_both_profiles_answer_to(self) -> None:
        """Both replicas and the demo share the alias Prometheus resolves, on their HTTP port."""
        services = compose()["services"]
        config = documents(DEPLOY / "prometheus/prometheus.yml")[0]
        [lookup] = config["scrape_configs"][0]["dns_sd_configs"]
        [host], port = lookup["names"], str(lookup["port"])
        for name in ("daemon", "daemon-2", "demo"):
            assert host in services[name]["networks"]["default"]["aliases"], name
        assert f"0.0.0.0:{port}" in services["demo"]["command"]
        for name in ("daemon", "daemon-2"):
            listen = services[name]["environment"]["BACKLOG_MONITOR_HTTP__LISTEN"]
            assert listen.endswith(port)

    def test_two_replicas_share_one_postgres_store(self) -> None:
        """The live profile runs two daemons with the same store, config and secrets."""
        services = compose()["services"]
        first, second = services["daemon"], services["daemon-2"]
        for key in ("environment", "volumes", "secrets", "command", "image", "profiles"):
            assert first[key] == second[key], key
        assert first["environment"]["BACKLOG_MONITOR_STORE__URL"].startswith("postgresql")
        assert first["ports"] != second["ports"]

    def test_grafana_reads_the_compose_prometheus_and_the_shipped_dashboards(self) -> None:
        """The data source is the prometheus service; the dashboards folder is grafana/."""
        grafana = compose()["services"]["grafana"]
        [source] = documents(DEPLOY / "grafana/datasources.yaml")[0]["datasources"]
        assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
        provider = documents(ROOT / "grafana/provisioning/dashboards/backlog-monitor.yaml")[0]
        path = provider["providers"][0]["options"]["path"]
        assert f"../grafana/dashboards:{path}:ro" in grafana["volumes"]

    def test_the_daemon_configuration_loads_with_postgres_as_its_store(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """deploy/config/backlog-monitor.yaml is valid, and the compose environment makes
        PostgreSQL its store."""
        env = compose()["services"]["daemon"]["environment"]
        url = env["BACKLOG_MONITOR_STORE__URL"].replace("${BACKLOG_DB_PASSWORD:-}", "pw")
        monkeypatch.setenv("BACKLOG_MONITOR_STORE__URL", url)
        text = (DEPLOY / "config/backlog-monitor.yaml").read_text(encoding="utf-8")
        settings = load_settings(text=secret_files(tmp_path, text))
        assert settings.store.url.startswith("postgresql+psycopg://backlog:pw@postgres:5432/")
        assert [r.kind for r in settings.receivers] == ["alertmanager"]


class TestPrometheusAndAlertmanager:
    def test_the_compose_prometheus_config_and_exported_rules_pass_promtool(
        self, tmp_path: Path
    ) -> None:
        """promtool accepts prometheus.yml with the rules export-rules writes beside it."""
        promtool = require_binary("promtool", hint=HINT)
        text = (DEPLOY / "config/backlog-monitor.yaml").read_text(encoding="utf-8")
        config = tmp_path / "config.yaml"
        config.write_text(secret_files(tmp_path, text), encoding="utf-8")
        (tmp_path / "rules").mkdir()
        rules = tmp_path / "rules" / "backlog.rules.yml"
        exported = run_cli("export-rules", "--config", config, "-o", rules)
        assert exported.returncode == 0, exported.stderr
        prometheus = tmp_path / "prometheus.yml"
        prometheus.write_text((DEPLOY / "prometheus/prometheus.yml").read_text(), encoding="utf-8")
        checked = _run([promtool, "check", "config", str(prometheus)])
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "1 rules found" in checked.stdout  # the exported file was read, not skipped

    def test_the_scrape_example_passes_promtool(self, tmp_path: Path) -> None:
        """The example for an existing Prometheus is valid once its rules file exists."""
        promtool = require_binary("promtool", hint=HINT)
        rules = tmp_path / "backlog.rules.yml"
        rules.write_text("groups: []\n", encoding="utf-8")
        text = (DEPLOY / "prometheus/scrape-example.yml").read_text(encoding="utf-8")
        example = tmp_path / "prometheus.yml"
        example.write_text(text.replace("/etc/prometheus/rules/backlog.rules.yml", str(rules)))
        checked = _run([promtool, "check", "config", str(example)])
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def test_the_alertmanager_routing_passes_amtool(self) -> None:
        """amtool accepts the routing example."""
        amtool = require_binary("amtool", hint=HINT)
        checked = _run([amtool, "check-config", str(DEPLOY / "alertmanager/alertmanager.yml")])
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def test_routing_sends_each_kind_of_alert_where_the_comments_say(self) -> None:
        """amtool's route test: CollectorDown to platform, critical to on-call, info to the team."""
        amtool = require_binary("amtool", hint=HINT)
        config = str(DEPLOY / "alertmanager/alertmanager.yml")
        cases = {
            "alertname=CollectorDown source=helpdesk": "platform-oncall",
            "alertname=BacklogHighAvg2h severity=critical queue=Billing": "backlog-oncall",
            "alertname=BacklogSurgeForecast severity=info queue=Billing": "backlog-team",
        }
        for labels, receiver in cases.items():
            done = _run(
                [amtool, "config", "routes", "test", f"--config.file={config}", *labels.split()]
            )
            assert done.stdout.strip() == receiver, labels


class TestKubernetes:
    @pytest.mark.parametrize("kind", ["Namespace", "Secret", "ConfigMap", "Deployment", "Service"])
    def test_core_objects_match_kubernetes_schemas(self, kind: str) -> None:
        """Kubernetes' OpenAPI schema (strict: no unknown field) accepts each object."""
        objects = by_kind(kind)
        assert objects
        for obj in objects:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)

    def test_the_validator_rejects_a_misspelt_field(self) -> None:
        """The schema check can fail: a Deployment with 'replica' is refused."""
        [deployment] = by_kind("Deployment")
        wrong = json.loads(json.dumps(deployment))
        wrong["spec"]["replica"] = wrong["spec"].pop("replicas")
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)

    def test_probes_use_healthz_and_readyz(self) -> None:
        """Liveness and startup probe /healthz, readiness probes /readyz, on the http port."""
        [deployment] = by_kind("Deployment")
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["ports"] == [{"name": "http", "containerPort": 9464}]

    def test_service_and_servicemonitor_select_the_pods_and_port(self) -> None:
        """The Service selects the Deployment's pods; the ServiceMonitor the Service's port."""
        [deployment], [service] = by_kind("Deployment"), by_kind("Service")
        [monitor] = by_kind("ServiceMonitor")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [
            ("http", "/metrics")
        ]
        assert ports == {"http"}

    def test_the_secret_holds_every_file_the_configuration_reads(self, tmp_path: Path) -> None:
        """Each url_file/secret_file of the ConfigMap is a key of the mounted Secret, and the
        configuration loads."""
        [configmap] = by_kind("ConfigMap")
        [secret] = [s for s in by_kind("Secret") if s["metadata"]["name"] == "backlog-monitor"]
        text = configmap["data"]["config.yaml"]
        mount = "/run/secrets/backlog-monitor/"
        for path in re.findall(r"\w+_file: (\S+)", text):
            assert path.startswith(mount) and path.removeprefix(mount) in secret["stringData"]
        settings = load_settings(text=secret_files(tmp_path, text))
        assert settings.sources[0].name == "helpdesk"

    def test_environment_comes_from_the_secret(self) -> None:
        """The store URL and the API token are read from keys the Secret has."""
        [deployment] = by_kind("Deployment")
        [secret] = [s for s in by_kind("Secret") if s["metadata"]["name"] == "backlog-monitor"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
        assert {r["key"] for r in refs} == {"store-url", "api-token"}
        assert all(r["key"] in secret["stringData"] for r in refs)

    def test_kustomizations_list_existing_files(self) -> None:
        """Every resource a kustomization names exists beside it."""
        for kustomization in KUBE.rglob("kustomization.yaml"):
            for resource in documents(kustomization)[0]["resources"]:
                assert (kustomization.parent / resource).exists(), resource

    def test_scaled_objects_poll_the_service_with_the_token(self) -> None:
        """Each ScaledObject polls the Service's scaling endpoint, by namespaced name, with
        the TriggerAuthentication that exists, and a fallback KEDA can use."""
        [service] = by_kind("Service")
        port = service["spec"]["ports"][0]["port"]
        host = f"http://{service['metadata']['name']}.backlog-monitor.svc:{port}/api/v1/queues/"
        auths = {a["metadata"]["name"] for a in by_kind("TriggerAuthentication")}
        scaled = by_kind("ScaledObject")
        assert len(scaled) == 2
        for obj in scaled:
            assert obj["apiVersion"] == "keda.sh/v1alpha1"
            assert obj["spec"]["scaleTargetRef"]["name"]
            assert obj["spec"]["fallback"]["replicas"] > 0
            [trigger] = obj["spec"]["triggers"]
            assert trigger["type"] == "metrics-api" and trigger["metricType"] == "AverageValue"
            meta = trigger["metadata"]
            assert meta["url"].startswith(host) and meta["url"].endswith("/scaling")
            assert meta["valueLocation"] in ("desired.workers", "backlog")
            assert meta["authMode"] == "bearer"
            assert trigger["authenticationRef"]["name"] in auths


class TestDockerfile:
    def test_the_image_copies_what_the_package_needs(self) -> None:
        """Every package pyproject installs is copied into the build stage."""
        text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
        for package in ("monitor", "collectors", "forecasts", "alerting", "config"):
            assert f"COPY {package} ./{package}" in text
        assert "COPY pyproject.toml README.md ./" in text
        assert 'ENTRYPOINT ["backlog-monitor"]' in text and "USER 10001" in text


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=PATIENCE, check=False)

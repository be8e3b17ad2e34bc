"""deploy/kubernetes/: every manifest valid against the Kubernetes schemas (kubernetes-validate ships them, so
this runs offline), and the pieces agree with each other and with the image. No cluster runs them here."""
import kubernetes_validate
import pytest
import yaml

from tools import ROOT

MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
# The oldest Kubernetes still maintained when this was written, and the newest the validator knows.
VERSIONS = ["1.32.0", kubernetes_validate.latest_version()]
HEALTH = "/_stcore/health"


def documents():
    """{kind: the manifest} for every document in deploy/kubernetes/."""
    docs = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {doc["kind"]: doc for doc in docs}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path, version):
    """Strict: a misspelt or misplaced field fails too, not only a missing or mistyped one."""
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_a_misspelt_field_fails_validation():
    """The check above can fail: a probe's `pth` for `path` is refused."""
    deployment = documents()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = HEALTH
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_the_manifests_fit_together():
    """Several replicas with health probes on the image's port and user, the board's URL and passphrase from
    the Secret, a Service that selects the pods, and an Ingress with ingress-nginx's cookie affinity."""
    docs = documents()
    assert set(docs) == {"Deployment", "Service", "Ingress", "Secret"}
    deployment, service, ingress, secret = (docs[k] for k in ("Deployment", "Service", "Ingress", "Secret"))
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8501}  # the Dockerfile's EXPOSE and --server.port
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": HEALTH, "port": "http"}, probe
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
    assert env["DIGITVIZ_BOARD_URL"] == {"name": secret["metadata"]["name"], "key": "url"}
    assert env["DIGITVIZ_BOARD_PASSPHRASE"] == {"name": secret["metadata"]["name"], "key": "passphrase"}
    assert set(secret["stringData"]) == {"url", "passphrase"}
    assert secret["stringData"]["url"].startswith("postgresql+psycopg://")
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": service_port["name"]}}
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert notes["nginx.ingress.kubernetes.io/session-cookie-name"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # a quiet run keeps its socket
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "12m"  # as deploy/nginx.conf.template

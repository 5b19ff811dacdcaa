#!/usr/bin/env python3
"""Offline validation of tlsgate's Kubernetes manifests (deploy/kubernetes/).

Run through scripts/validate-deploy.sh, which installs the one dependency (kubernetes-validate,
which ships the Kubernetes JSON schemas, so nothing is fetched at validation time).

Steps:
  1. kustomization.yaml: only the features the fallback renderer understands, every file it
     names exists, and every file in the directory is named by it.
  2. Render: with `kubectl kustomize` when kubectl is installed, always also with the small
     renderer below; the two must agree (up to the ConfigMap's hash suffix).
  3. Schemas: every rendered document against one fixed Kubernetes version, strict (unknown
     fields are errors). Duplicate YAML keys are errors too.
  4. Policies: the project's own rules (non-root, probes, drain budget, Service ports, ...), and
     the tlsgate config carried by the ConfigMap checked against PRODUCT.md's schema.

Exit status 0 when everything passes, 1 on any problem; the last line is a one-line summary.
`--self-test` breaks copies of the directory in known ways and checks each one is rejected.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

K8S_VERSION = "1.32.0"
DEFAULT_DRAIN_DELAY = 5.0  # PRODUCT.md defaults, used when tlsgate.yaml omits `shutdown`
DEFAULT_DRAIN_TIMEOUT = 60.0
DEFAULT_ADMIN_BIND = "127.0.0.1:9901"


# --------------------------------------------------------------------------------------------
# YAML loading


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (the API server's strict decoding does too)."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class ConfigLoader(StrictLoader):
    """tlsgate reads YAML 1.2 (serde-saphyr): `off`, `on`, `yes`, `no` are strings there, not
    booleans as in PyYAML's YAML 1.1. Only true/false are booleans."""


ConfigLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in StrictLoader.yaml_implicit_resolvers.copy().items()
}
for _first in "tTfF":
    ConfigLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first])


def load_all(text, where):
    try:
        return [d for d in yaml.load_all(text, Loader=StrictLoader) if d is not None]
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: YAML: {e}".replace("\n", " ")) from None


# --------------------------------------------------------------------------------------------
# The result of a run


class Report:
    def __init__(self):
        self.problems = []
        self.passed = []
        self.notes = []

    def check(self, name, ok, message=""):
        """One policy check: passes, or records `name: message`."""
        if ok:
            self.passed.append(name)
        else:
            self.problems.append(f"{name}: {message}")
        return ok

    def fail(self, message):
        self.problems.append(message)


# --------------------------------------------------------------------------------------------
# Step 1 and 2: the kustomization and its rendering

FALLBACK_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "images"}
GENERATOR_KEYS = {"name", "files", "literals", "options"}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}


def generator_file(entry):
    """`key=path` or `path` -> (key, path)."""
    if "=" in entry:
        key, path = entry.split("=", 1)
        return key, path
    return os.path.basename(entry), entry


def read_kustomization(directory, report):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        report.fail(f"kustomization: {path} is missing")
        return None
    try:
        docs = load_all(open(path, encoding="utf-8").read(), path)
    except ValueError as e:
        report.fail(f"kustomization: {e}")
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        report.fail("kustomization: kustomization.yaml must hold exactly one mapping")
        return None
    k = docs[0]
    ok = True
    if k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or k.get("kind") != "Kustomization":
        report.fail("kustomization: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
        ok = False
    unknown = sorted(set(k) - FALLBACK_KEYS)
    if unknown:
        report.fail(f"kustomization: keys {unknown} are not understood by the fallback renderer "
                    f"(supported: {sorted(FALLBACK_KEYS)}); extend scripts/validate_deploy.py")
        ok = False
    for g in k.get("configMapGenerator") or []:
        extra = sorted(set(g) - GENERATOR_KEYS)
        if extra:
            report.fail(f"kustomization: configMapGenerator {g.get('name')!r}: unsupported keys {extra}")
            ok = False
        if set(g.get("options") or {}) - {"disableNameSuffixHash", "labels", "annotations"}:
            report.fail(f"kustomization: configMapGenerator {g.get('name')!r}: unsupported options")
            ok = False
    for i in k.get("images") or []:
        if set(i) - IMAGE_KEYS:
            report.fail(f"kustomization: images entry {i.get('name')!r}: unsupported keys {sorted(set(i) - IMAGE_KEYS)}")
            ok = False

    # Every file named exists; every file present is named.
    named = []
    for r in k.get("resources") or []:
        named.append(r)
    for g in k.get("configMapGenerator") or []:
        for f in g.get("files") or []:
            named.append(generator_file(f)[1])
    for n in named:
        full = os.path.normpath(os.path.join(directory, n))
        if os.path.isdir(full):
            report.fail(f"kustomization: {n} is a directory (nested kustomizations are not supported here)")
            ok = False
        elif not os.path.isfile(full):
            report.fail(f"kustomization: {n} is listed but does not exist")
            ok = False
    present = set()
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), directory)
            present.add(os.path.normpath(rel))
    unlisted = sorted(present - {os.path.normpath(n) for n in named} - {"kustomization.yaml"})
    report.check("every file in the directory is listed in kustomization.yaml", not unlisted,
                 f"not listed (kubectl apply -k would ignore them): {unlisted}")
    dupes = sorted({n for n in named if named.count(n) > 1})
    report.check("no file listed twice", not dupes, f"listed twice: {dupes}")
    return k if ok else None


def name_hash(cm):
    """A content hash for a generated ConfigMap's name suffix. Not kustomize's exact algorithm:
    names are compared with the suffix removed."""
    digest = hashlib.sha256(json.dumps(cm, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def pod_specs(doc):
    """The pod specs inside a workload document (Deployment, StatefulSet, ..., Pod)."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return [spec]
    if doc.get("kind") == "CronJob":
        return [(((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}]
    tmpl = spec.get("template")
    return [tmpl.get("spec") or {}] if isinstance(tmpl, dict) else []


def all_containers(pod):
    return list(pod.get("initContainers") or []) + list(pod.get("containers") or [])


def rename_configmaps(doc, renames):
    for pod in pod_specs(doc):
        for v in pod.get("volumes") or []:
            if "configMap" in v and v["configMap"].get("name") in renames:
                v["configMap"]["name"] = renames[v["configMap"]["name"]]
            for s in (v.get("projected") or {}).get("sources") or []:
                if "configMap" in s and s["configMap"].get("name") in renames:
                    s["configMap"]["name"] = renames[s["configMap"]["name"]]
        for c in all_containers(pod):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("name") in renames:
                    ref["name"] = renames[ref["name"]]
            for e in c.get("envFrom") or []:
                ref = e.get("configMapRef")
                if ref and ref.get("name") in renames:
                    ref["name"] = renames[ref["name"]]


def split_image(image):
    """`registry/name:tag@digest` -> (name, tag, digest)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def set_images(doc, images):
    for pod in pod_specs(doc):
        for c in all_containers(pod):
            name, tag, digest = split_image(c.get("image", ""))
            for i in images:
                if i.get("name") == name:
                    new = i.get("newName", name)
                    if i.get("digest"):
                        c["image"] = f"{new}@{i['digest']}"
                    else:
                        t = i.get("newTag", tag)
                        c["image"] = new + (f":{t}" if t else "") + (f"@{digest}" if digest and not i.get("newTag") else "")


def render_fallback(directory, k, report):
    docs = []
    for r in k.get("resources") or []:
        path = os.path.join(directory, r)
        try:
            docs.extend(load_all(open(path, encoding="utf-8").read(), r))
        except ValueError as e:
            report.fail(f"render: {e}")
    renames = {}
    generated = []
    for g in k.get("configMapGenerator") or []:
        data = {}
        for f in g.get("files") or []:
            key, rel = generator_file(f)
            with open(os.path.join(directory, rel), encoding="utf-8") as fh:
                data[key] = fh.read()
        for lit in g.get("literals") or []:
            key, _, value = lit.partition("=")
            data[key] = value
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]}, "data": data}
        opts = g.get("options") or {}
        if opts.get("labels"):
            cm["metadata"]["labels"] = dict(opts["labels"])
        if opts.get("annotations"):
            cm["metadata"]["annotations"] = dict(opts["annotations"])
        if not opts.get("disableNameSuffixHash"):
            new = f"{g['name']}-{name_hash(cm)}"
            renames[g["name"]] = new
            cm["metadata"]["name"] = new
        generated.append(cm)
    for d in docs:
        rename_configmaps(d, renames)
        set_images(d, k.get("images") or [])
    return generated + docs, renames


def render_kubectl(directory):
    """`kubectl kustomize DIR` when kubectl is installed (it embeds kustomize); else None."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None, "kubectl not installed"
    try:
        out = subprocess.run([kubectl, "kustomize", directory], check=True, capture_output=True,
                             text=True, timeout=60)
    except subprocess.CalledProcessError as e:
        return [], f"kubectl kustomize failed: {e.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"kubectl kustomize could not run: {e}"
    return load_all(out.stdout, "kubectl kustomize output"), None


def normalized(docs, generator_names):
    """Documents as sorted JSON strings, generated names without their hash suffix."""
    out = []
    for d in docs:
        text = json.dumps(d, sort_keys=True)
        for g in generator_names:
            text = re.sub(rf'"{re.escape(g)}-[a-z0-9]{{10}}"', f'"{g}"', text)
        out.append(text)
    return sorted(out)


# --------------------------------------------------------------------------------------------
# Step 3: schemas


def validate_schemas(docs, version, report):
    import kubernetes_validate

    valid = 0
    for d in docs:
        ident = f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(d, version, strict=True)
            valid += 1
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
            report.fail(f"schema {ident}: at {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            report.fail(f"schema {ident}: no schema for {d.get('apiVersion')} {d.get('kind')} in Kubernetes {version}")
        except Exception as e:  # a malformed document (no apiVersion, ...)
            report.fail(f"schema {ident}: {type(e).__name__}: {e}")
    return valid


# --------------------------------------------------------------------------------------------
# Step 4a: the tlsgate config, against PRODUCT.md's schema

DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$")
SIZE = re.compile(r"^\s*\d+\s*(B|KiB|k|K|MiB|M|GiB|G|KB|MB|GB)?\s*$")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def seconds(text):
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def t_str(v):
    return None if isinstance(v, str) else f"expected a string, found {v!r}"


def t_bool(v):
    return None if isinstance(v, bool) else f"expected true or false, found {v!r}"


def t_int(v):
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else f"expected a non-negative integer, found {v!r}"


def t_enum(*values):
    def check(v):
        return None if v in values else f"expected one of {list(values)}, found {v!r}"
    return check


def t_duration(v):
    return None if isinstance(v, str) and DURATION.match(v) else f"expected a duration like 10s or 5m, found {v!r}"


def t_duration_or_none(v):
    return None if v == "none" else t_duration(v)


def t_size(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return None
    return None if isinstance(v, str) and SIZE.match(v) else f"expected a size like 64KiB, found {v!r}"


def t_size_or_none(v):
    return None if v == "none" else t_size(v)


def t_int_or_none(v):
    return None if v == "none" else t_int(v)


def t_socket(v):
    if not isinstance(v, str):
        return f"expected HOST:PORT, found {v!r}"
    m = re.match(r"^\[?([0-9A-Fa-f:.]+)\]?:(\d+)$", v)
    if not m:
        return f"expected IP:PORT, found {v!r}"
    try:
        ipaddress.ip_address(m.group(1))
    except ValueError:
        return f"not an IP address in {v!r}"
    return None if 0 < int(m.group(2)) < 65536 else f"port out of range in {v!r}"


def t_cidr(v):
    try:
        ipaddress.ip_network(str(v), strict=False)
        return None
    except ValueError:
        return f"expected an address or CIDR range, found {v!r}"


def t_upstream_checks(v):
    if v in ("off", "startup_and_reload"):
        return None
    if isinstance(v, str) and v.startswith("every ") and DURATION.match(v[6:]):
        return None
    return f"expected off, startup_and_reload or `every <duration>`, found {v!r}"


def listof(item):
    return ("list", item)


def mapof(item):
    return ("map", item)


def obj(fields, required=()):
    return ("obj", fields, set(required))


CONFIG_SCHEMA = obj({
    "listeners": listof(obj({
        "name": t_str,
        "bind": t_socket,
        "proxy_protocol": t_enum("off", "v1", "v2", "any"),
        "trusted_proxies": listof(t_cidr),
        "tls": obj({
            "certificates": listof(obj({"cert": t_str, "key": t_str, "ca": t_str,
                                        "names": listof(t_str)}, required=("cert", "key"))),
            "default_certificate": t_int,
            "min_version": t_enum("tls1.2", "tls1.3"),
            "alpn": listof(t_str),
            "session_tickets": obj({"key_file": t_str}, required=("key_file",)),
            "client_auth": obj({"ca": t_str, "mode": t_enum("require", "optional")}, required=("ca",)),
        }, required=("certificates",)),
    }, required=("bind",))),
    "routes": listof(obj({"path_prefix": t_str, "upstream": t_str}, required=("upstream",))),
    "upstreams": mapof(obj({
        "url": t_str,
        "set_headers": mapof(t_str),
        "tls": obj({"roots": listof(t_enum("system", "webpki")), "ca_bundle": t_str,
                    "server_name": t_str, "client_cert": t_str, "client_key": t_str,
                    "insecure_skip_verify": t_bool}),
        "http_version": t_enum("auto", "http1", "http2"),
        "egress_proxy": t_str,
        "timeouts": obj({"connect": t_duration, "tls_handshake": t_duration,
                         "first_byte": t_duration, "idle": t_duration,
                         "total": t_duration_or_none}),
    }, required=("url",))),
    "admin": obj({"bind": t_socket, "allow_public": t_bool}),
    "reload": obj({"watch": t_bool, "debounce": t_duration, "poll": t_duration}),
    "diagnostics": obj({
        "log_format": t_enum("pretty", "json"),
        "expiry_warning": t_duration,
        "upstream_checks": t_upstream_checks,
        "client_error_detail": t_enum("none", "summary", "full"),
    }),
    "limits": obj({
        "max_connections": t_int,
        "max_connections_per_ip": t_int_or_none,
        "handshake_timeout": t_duration,
        "header_read_timeout": t_duration,
        "keepalive_timeout": t_duration,
        "http2_idle_timeout": t_duration,
        "client_body_timeout": t_duration,
        "send_timeout": t_duration,
        "max_request_body_bytes": t_size_or_none,
        "max_request_header_bytes": t_size,
        "max_cert_file_bytes": t_size,
    }),
    "proxy": obj({"allowed_upgrades": listof(t_str)}),
    "shutdown": obj({"drain_delay": t_duration, "drain_timeout": t_duration}),
})


def check_schema(value, spec, where, errors):
    if callable(spec):
        err = spec(value)
        if err:
            errors.append(f"{where}: {err}")
        return
    kind = spec[0]
    if kind == "list":
        if not isinstance(value, list):
            errors.append(f"{where}: expected a list, found {value!r}")
            return
        for i, item in enumerate(value):
            check_schema(item, spec[1], f"{where}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a mapping, found {value!r}")
            return
        for key, item in value.items():
            check_schema(item, spec[1], f"{where}.{key}", errors)
    else:
        fields, required = spec[1], spec[2]
        if not isinstance(value, dict):
            errors.append(f"{where or 'config'}: expected a mapping, found {value!r}")
            return
        for key, item in value.items():
            sub = f"{where}.{key}" if where else key
            if key not in fields:
                errors.append(f"{sub}: unknown key (known here: {', '.join(sorted(fields))})")
            else:
                check_schema(item, fields[key], sub, errors)
        for key in sorted(required - set(value)):
            errors.append(f"{where}: missing required key {key!r}")


# --------------------------------------------------------------------------------------------
# Step 4b: policies


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def selects(selector, labels):
    """Does a label selector (matchLabels / matchExpressions, or a Service's plain map) match?"""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    for e in selector.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), e.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def resolve_file(path, container, pod, docs):
    """Which mounted ConfigMap/Secret key a file path inside the container comes from.
    Returns (source_kind, source_name, key, mount) or (None, reason, None, mount)."""
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: -len(m.get("mountPath", "")))
    for m in mounts:
        mp = m.get("mountPath", "").rstrip("/")
        if m.get("subPath"):
            if path != mp:
                continue
            rel = m["subPath"]
        elif path.startswith(mp + "/"):
            rel = path[len(mp) + 1:]
        else:
            continue
        vol = next((v for v in pod.get("volumes") or [] if v.get("name") == m.get("name")), None)
        if vol is None:
            return None, f"mount {m.get('name')!r} has no volume", None, m
        sources = []
        if "configMap" in vol:
            sources.append(("ConfigMap", vol["configMap"].get("name"), vol["configMap"].get("items")))
        if "secret" in vol:
            sources.append(("Secret", vol["secret"].get("secretName"), vol["secret"].get("items")))
        for s in (vol.get("projected") or {}).get("sources") or []:
            if "configMap" in s:
                sources.append(("ConfigMap", s["configMap"].get("name"), s["configMap"].get("items")))
            if "secret" in s:
                sources.append(("Secret", s["secret"].get("name"), s["secret"].get("items")))
        if not sources:
            kinds = sorted(set(vol) - {"name"})
            return None, f"{path} is on volume {vol.get('name')!r} ({', '.join(kinds)}), not a ConfigMap or Secret", None, m
        for kind, name, items in sources:
            if items:
                for it in items:
                    if it.get("path") == rel:
                        return kind, name, it.get("key"), m
                continue
            if kind == "ConfigMap":
                cm = next((d for d in by_kind(docs, "ConfigMap") if d["metadata"].get("name") == name), None)
                if cm is not None and rel in (cm.get("data") or {}):
                    return kind, name, rel, m
                continue
            if "/" not in rel:  # a Secret without items: its keys are not known here
                return kind, name, rel, m
        return None, f"{path}: no key of volume {vol.get('name')!r} provides {rel!r}", None, m
    return None, f"{path} is on no mounted volume", None, None


def probe_target(probe):
    """('http', path, port, headers) or ('exec', argv) or (None, ...)."""
    if not probe:
        return None
    if "httpGet" in probe:
        h = probe["httpGet"]
        return ("http", h.get("path", "/"), h.get("port"), {x.get("name", "").lower(): x.get("value") for x in h.get("httpHeaders") or []})
    if "exec" in probe:
        return ("exec", [str(a) for a in probe["exec"].get("command") or []])
    return ("other", sorted(probe))


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_probe(report, name, probe, endpoint, admin_host, admin_port, allow_public):
    t = probe_target(probe)
    if t is None:
        return report.check(f"{name} probe on {endpoint}", False, f"no {name}Probe")
    if t[0] == "http":
        _, path, port, headers = t
        report.check(f"{name} probe on {endpoint}", path == endpoint, f"httpGet path is {path!r}, expected {endpoint!r}")
        report.check(f"{name} probe reaches the admin port", port == admin_port,
                     f"httpGet port {port!r} is not the admin port {admin_port}")
        report.check(f"{name} probe: admin API reachable from the kubelet",
                     not is_loopback(admin_host) and allow_public,
                     f"httpGet is sent from the node to the pod IP, but admin.bind is {admin_host}:{admin_port} "
                     f"(bind 0.0.0.0 with allow_public: true, or use an exec probe)")
        host = (headers.get("host") or "").rsplit(":", 1)[0].strip("[]") if headers.get("host") else ""
        report.check(f"{name} probe: Host header accepted by the admin API", is_loopback(host),
                     "the kubelet sends Host: <pod IP>, which the admin API refuses; add httpHeaders "
                     "[{name: Host, value: localhost}]")
    elif t[0] == "exec":
        argv = t[1]
        report.check(f"{name} probe on {endpoint}", any(endpoint in a for a in argv),
                     f"exec command {argv} does not ask for {endpoint}")
        others = {"/readyz", "/healthz"} - {endpoint}
        report.check(f"{name} probe asks for nothing else", not any(o in a for o in others for a in argv),
                     f"exec command {argv} names {sorted(others)}")
    else:
        report.check(f"{name} probe on {endpoint}", False, f"unsupported probe kind {t[1]}")


def prestop_seconds(container):
    hook = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in hook:
        return float(hook["sleep"].get("seconds", 0))
    argv = [str(a) for a in ((hook.get("exec") or {}).get("command") or [])]
    if argv and os.path.basename(argv[0]) == "sleep" and len(argv) == 2:
        try:
            return seconds(argv[1] if not argv[1].isdigit() else argv[1] + "s")
        except ValueError:
            return None
    joined = " ".join(argv)
    m = re.search(r"\bsleep\s+(\d+)\b", joined)
    return float(m.group(1)) if m else None


def config_path_from_args(container):
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    for i, a in enumerate(argv):
        if a in ("-c", "--config") and i + 1 < len(argv):
            return argv[i + 1], argv
        if a.startswith("--config="):
            return a.split("=", 1)[1], argv
    return None, argv


def file_paths_in_config(cfg):
    out = []
    for li in cfg.get("listeners") or []:
        tls = li.get("tls") or {}
        for c in tls.get("certificates") or []:
            for k in ("cert", "key", "ca"):
                if c.get(k):
                    out.append((f"listeners[{li.get('name')}].{k}", c[k]))
        if (tls.get("session_tickets") or {}).get("key_file"):
            out.append((f"listeners[{li.get('name')}].session_tickets.key_file", tls["session_tickets"]["key_file"]))
        if (tls.get("client_auth") or {}).get("ca"):
            out.append((f"listeners[{li.get('name')}].client_auth.ca", tls["client_auth"]["ca"]))
    for name, up in (cfg.get("upstreams") or {}).items():
        t = up.get("tls") or {}
        for k in ("ca_bundle", "client_cert", "client_key"):
            if t.get(k):
                out.append((f"upstreams.{name}.tls.{k}", t[k]))
    return out


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def check_policies(docs, report):
    deployments = by_kind(docs, "Deployment")
    if not report.check("exactly one Deployment", len(deployments) == 1, f"found {len(deployments)}"):
        return
    dep = deployments[0]
    spec = dep.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec")) or {}
    pod_labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
    containers = pod.get("containers") or []
    tg = [c for c in containers if "serve" in ((c.get("command") or []) + (c.get("args") or []))]
    if not report.check("a container runs `tlsgate serve`", len(tg) == 1, f"containers: {[c.get('name') for c in containers]}"):
        return
    c = tg[0]
    csc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}

    replicas = spec.get("replicas", 1)
    report.check("replicas >= 2", isinstance(replicas, int) and replicas >= 2, f"replicas is {replicas}")

    # Non-root, read-only, unprivileged.
    run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    report.check("runAsNonRoot", run_as_non_root is True, f"runAsNonRoot is {run_as_non_root!r}")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    report.check("runAsUser is not root", uid is None or uid != 0, "runAsUser is 0")
    report.check("readOnlyRootFilesystem", csc.get("readOnlyRootFilesystem") is True,
                 f"readOnlyRootFilesystem is {csc.get('readOnlyRootFilesystem')!r}")
    report.check("allowPrivilegeEscalation false", csc.get("allowPrivilegeEscalation") is False,
                 f"allowPrivilegeEscalation is {csc.get('allowPrivilegeEscalation')!r}")
    report.check("not privileged", csc.get("privileged") is not True, "privileged: true")
    drop = [str(x).upper() for x in ((csc.get("capabilities") or {}).get("drop") or [])]
    report.check("capabilities drop ALL", "ALL" in drop, f"capabilities.drop is {drop}")
    added = (csc.get("capabilities") or {}).get("add") or []
    report.check("no capabilities added", not added, f"capabilities.add is {added}")

    res = c.get("resources") or {}
    missing = [f"requests.{r}" for r in ("cpu", "memory") if r not in (res.get("requests") or {})]
    missing += [f"limits.{r}" for r in ("memory",) if r not in (res.get("limits") or {})]
    report.check("resource requests and limits", not missing, f"missing {missing}")

    # Spread across nodes.
    spread = any(t.get("topologyKey") == "kubernetes.io/hostname" and t.get("whenUnsatisfiable") == "DoNotSchedule"
                 and selects(t.get("labelSelector"), pod_labels) for t in pod.get("topologySpreadConstraints") or [])
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        spread = spread or (t.get("topologyKey") == "kubernetes.io/hostname" and selects(t.get("labelSelector"), pod_labels))
    for w in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        t = w.get("podAffinityTerm") or {}
        spread = spread or (t.get("topologyKey") == "kubernetes.io/hostname" and selects(t.get("labelSelector"), pod_labels))
    report.check("replicas spread across nodes", spread,
                 "no topologySpreadConstraint (DoNotSchedule) or podAntiAffinity on kubernetes.io/hostname selecting the pods")

    # The config tlsgate reads: `-c PATH` -> mounted ConfigMap key.
    cfg_path, argv = config_path_from_args(c)
    if not report.check("container runs `serve -c FILE`", cfg_path is not None, f"arguments {argv} name no config file"):
        return
    kind, name, key, _ = resolve_file(cfg_path, c, pod, docs)
    cm = next((d for d in by_kind(docs, "ConfigMap") if d["metadata"].get("name") == name), None) if kind == "ConfigMap" else None
    text = (cm.get("data") or {}).get(key) if cm else None
    if not report.check("config file comes from a ConfigMap in the kustomization", text is not None,
                        f"{cfg_path}: " + (name if kind is None else f"{kind} {name!r} key {key!r} not found among the rendered documents")):
        return
    try:
        cfg = yaml.load(text, Loader=ConfigLoader) or {}
    except yaml.YAMLError as e:
        report.check("tlsgate config parses", False, str(e).replace("\n", " "))
        return
    errors = []
    check_schema(cfg, CONFIG_SCHEMA, "", errors)
    report.check("tlsgate config matches PRODUCT.md's schema", not errors, "; ".join(errors))
    if errors:
        return

    # Environment variables the config needs.
    env_names = {e.get("name") for e in c.get("env") or []}
    has_env_from = bool(c.get("envFrom"))
    needed = sorted({m.group(1) for v in strings_in(cfg) for m in ENV_REF.finditer(v) if not m.group(2)})
    unset = [n for n in needed if n not in env_names]
    report.check("every ${VAR} in the config is set in the container", not unset or has_env_from,
                 f"not set: {unset} (tlsgate refuses to start: config_env_missing)")

    # Listeners and ports.
    listeners = cfg.get("listeners") or []
    listener_ports = {split_addr(li["bind"])[1] for li in listeners}
    container_ports = {p.get("containerPort"): p for p in c.get("ports") or []}
    named_ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or [] if p.get("name")}
    admin = cfg.get("admin") or {}
    admin_host, admin_port = split_addr(admin.get("bind", DEFAULT_ADMIN_BIND))
    allow_public = admin.get("allow_public", False) is True
    report.check("admin.bind is loopback unless allow_public", is_loopback(admin_host) or allow_public,
                 f"admin.bind {admin_host}:{admin_port} without allow_public: true (tlsgate refuses it)")
    missing_ports = sorted(listener_ports - set(container_ports))
    report.check("every listener port is a containerPort", not missing_ports,
                 f"listener ports {missing_ports} are not declared in the container")
    stray = sorted(set(container_ports) - listener_ports)
    report.check("containerPorts are listener ports only", not stray,
                 f"containerPorts {stray} are no listener's (the admin port is {admin_port})")

    # Shared session-ticket key on every TLS listener (resumption across replicas).
    no_key = [li.get("name") or li["bind"] for li in listeners if li.get("tls")
              and not (li["tls"].get("session_tickets") or {}).get("key_file")]
    report.check("TLS listeners share a session-ticket key file", not no_key or replicas < 2,
                 f"listeners {no_key} have no session_tickets.key_file: a client resumes only on the replica it met")

    # Every file the config names comes read-only from a Secret/ConfigMap, mounted without subPath.
    for label, path in file_paths_in_config(cfg):
        kind, name, key, mount = resolve_file(path, c, pod, docs)
        if not report.check(f"{label} is mounted", kind is not None, name):
            continue
        report.check(f"{label}: mount is read-only", mount.get("readOnly") is True,
                     f"volumeMount {mount.get('name')!r} at {mount.get('mountPath')} is not readOnly")
        report.check(f"{label}: mount has no subPath", not mount.get("subPath"),
                     f"volumeMount {mount.get('name')!r} uses subPath: Secret/ConfigMap updates never reach it, so rotation would not work")
        if label.endswith(".key") or label.endswith("key_file") or label.endswith("client_key"):
            report.check(f"{label} comes from a Secret", kind == "Secret", f"{path} comes from {kind} {name!r}")

    # Probes.
    check_probe(report, "readiness", c.get("readinessProbe"), "/readyz", admin_host, admin_port, allow_public)
    check_probe(report, "liveness", c.get("livenessProbe"), "/healthz", admin_host, admin_port, allow_public)
    if c.get("startupProbe"):
        check_probe(report, "startup", c.get("startupProbe"), "/healthz", admin_host, admin_port, allow_public)
    exec_helpers = set()
    for p in ("readinessProbe", "livenessProbe", "startupProbe"):
        t = probe_target(c.get(p))
        if t and t[0] == "exec" and t[1]:
            exec_helpers.add(t[1][0])
    for h in exec_helpers:
        report.check("exec probes use the image's tlsgate-healthcheck",
                     h == "/usr/local/bin/tlsgate-healthcheck",
                     f"probe command {h!r}: the runtime image has no curl/wget; use /usr/local/bin/tlsgate-healthcheck")

    # Drain budget.
    shutdown = cfg.get("shutdown") or {}
    delay = seconds(shutdown.get("drain_delay", f"{DEFAULT_DRAIN_DELAY}s"))
    timeout = seconds(shutdown.get("drain_timeout", f"{DEFAULT_DRAIN_TIMEOUT}s"))
    pre = prestop_seconds(c)
    report.check("preStop hook sleeps", pre is not None and pre > 0,
                 "no preStop sleep: endpoints may still route new connections to a pod that got SIGTERM")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    budget = (pre or 0) + delay + timeout
    report.check("terminationGracePeriodSeconds > preStop + drain_delay + drain_timeout", grace > budget,
                 f"{grace}s <= {pre or 0:g}s preStop + {delay:g}s drain_delay + {timeout:g}s drain_timeout = {budget:g}s "
                 "(the kubelet would SIGKILL in-flight streams)")

    strategy = spec.get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    report.check("rolling update keeps capacity (maxUnavailable 0)",
                 strategy.get("type", "RollingUpdate") == "RollingUpdate" and str(ru.get("maxUnavailable", "25%")) in ("0", "0%"),
                 f"strategy {strategy}")

    # Services: the proxy port only, never the admin API.
    services = by_kind(docs, "Service")
    report.check("a Service selects the pods", any(selects((s.get("spec") or {}).get("selector"), pod_labels) for s in services),
                 "no Service selects the Deployment's pods")
    for s in services:
        sname = s["metadata"].get("name")
        for p in (s.get("spec") or {}).get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            resolved = named_ports.get(target) if isinstance(target, str) else target
            exposes_admin = admin_port in (p.get("port"), p.get("nodePort"), resolved) or target == admin_port
            report.check(f"Service {sname} port {p.get('name') or p.get('port')} does not expose the admin API",
                         not exposes_admin, f"port {p.get('port')} -> {target} reaches {admin_port}")
            report.check(f"Service {sname} port {p.get('name') or p.get('port')} targets a listener",
                         resolved in listener_ports,
                         f"targetPort {target!r} resolves to {resolved!r}, not a listener port {sorted(listener_ports)}")

    # PodDisruptionBudget.
    pdbs = [p for p in by_kind(docs, "PodDisruptionBudget") if selects((p.get("spec") or {}).get("selector"), pod_labels)]
    if report.check("a PodDisruptionBudget selects the pods", len(pdbs) == 1, f"found {len(pdbs)}"):
        ps = pdbs[0].get("spec") or {}
        mina = ps.get("minAvailable")
        report.check("PodDisruptionBudget minAvailable >= 1 and < replicas",
                     isinstance(mina, int) and 1 <= mina < (replicas if isinstance(replicas, int) else 1),
                     f"minAvailable {mina!r} with {replicas} replicas (>= replicas blocks every node drain)")


# --------------------------------------------------------------------------------------------
# A run


def validate(directory, version=K8S_VERSION, use_kubectl=True):
    report = Report()
    k = read_kustomization(directory, report)
    if k is None:
        return report, 0, "none"
    docs, renames = render_fallback(directory, k, report)
    renderer = "built-in renderer"
    if use_kubectl:
        kdocs, why = render_kubectl(directory)
        if kdocs is None:
            report.notes.append(f"{why}: rendered with the built-in renderer only")
        elif why:
            report.fail(f"render: {why}")
        else:
            renderer = "kubectl kustomize (cross-checked with the built-in renderer)"
            same = normalized(kdocs, list(renames)) == normalized(docs, list(renames))
            report.check("kubectl kustomize and the built-in renderer agree", same,
                         "the two renderings differ; the kustomization uses something the built-in renderer "
                         "does not reproduce (fix scripts/validate_deploy.py)")
            docs = kdocs
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            report.fail(f"render: a document without apiVersion/kind: {str(d)[:80]}")
    docs = [d for d in docs if isinstance(d, dict) and "kind" in d]
    valid = validate_schemas(docs, version, report)
    report.notes.append(f"{len(docs)} documents: " + ", ".join(f"{d['kind']}/{d['metadata'].get('name')}" for d in docs))
    check_policies(docs, report)
    return report, valid, renderer


# Broken copies for --self-test: (what, file, old text, new text, expected words in a problem).
MUTATIONS = [
    ("unknown field in the container", "deployment.yaml",
     "imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent", "schema Deployment"),
    ("wrong type (string replicas)", "deployment.yaml", "replicas: 2", 'replicas: "two"', "schema Deployment"),
    ("duplicate key", "service.yaml", "  type: ClusterIP\n", "  type: ClusterIP\n  type: NodePort\n", "duplicate key"),
    ("a single replica", "deployment.yaml", "replicas: 2", "replicas: 1", "replicas >= 2"),
    ("Service exposes the admin port", "service.yaml", "      appProtocol: https\n",
     "      appProtocol: https\n    - name: admin\n      port: 9901\n      targetPort: 9901\n", "admin API"),
    ("grace period shorter than the drain", "deployment.yaml", "terminationGracePeriodSeconds: 90",
     "terminationGracePeriodSeconds: 65", "terminationGracePeriodSeconds"),
    ("drain_timeout raised past the grace period", "tlsgate.yaml", "drain_timeout: 60s", "drain_timeout: 2m",
     "terminationGracePeriodSeconds"),
    ("readiness probe on /healthz", "deployment.yaml",
     '["/usr/local/bin/tlsgate-healthcheck", "/readyz"]', '["/usr/local/bin/tlsgate-healthcheck", "/healthz"]',
     "readiness probe on /readyz"),
    ("runAsNonRoot false on the container", "deployment.yaml", "runAsNonRoot: true\n            capabilities",
     "runAsNonRoot: false\n            capabilities", "runAsNonRoot"),
    ("writable root filesystem", "deployment.yaml", "readOnlyRootFilesystem: true",
     "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"),
    ("no preStop hook", "deployment.yaml",
     '          lifecycle:\n            preStop:\n', '          lifecycle:\n            postStart:\n', "preStop"),
    ("typo in the tlsgate config", "tlsgate.yaml", "drain_delay: 5s", "drain_dealy: 5s", "unknown key"),
    ("certificate mounted with subPath", "deployment.yaml",
     "            - name: tls\n              mountPath: /certs\n              readOnly: true\n",
     "            - name: tls\n              mountPath: /certs/tls.crt\n              subPath: tls.crt\n              readOnly: true\n",
     "is mounted"),
    ("a file not listed in kustomization.yaml", "extra-configmap.yaml", None,
     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n", "not listed"),
    ("a listed file that does not exist", "kustomization.yaml", "  - networkpolicy.yaml\n",
     "  - networkpolicy.yaml\n  - ingress.yaml\n", "does not exist"),
]


def self_test(directory, version, verbose=True):
    """Breaks copies of the directory (MUTATIONS) and checks each is rejected for the expected
    reason. Returns (rejected, failures)."""
    failures = []
    for what, fname, old, new, expect in MUTATIONS:
        with tempfile.TemporaryDirectory(prefix="tlsgate-deploy-") as tmp:
            copy_dir = os.path.join(tmp, "kubernetes")
            shutil.copytree(directory, copy_dir)
            path = os.path.join(copy_dir, fname)
            if old is None:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
            else:
                text = open(path, encoding="utf-8").read()
                if old not in text:
                    failures.append(f"{what}: the mutation no longer applies ({old!r} not in {fname}); update MUTATIONS")
                    continue
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text.replace(old, new, 1))
            # The built-in renderer only: fast, and kubectl's agreement is checked by the main run.
            report, _, _ = validate(copy_dir, version, use_kubectl=False)
            hit = [p for p in report.problems if expect in p]
            if hit:
                if verbose:
                    print(f"  rejected: {what}: {hit[0][:160]}")
            else:
                failures.append(f"{what}: not rejected (problems: {report.problems or 'none'})")
    return len(MUTATIONS) - len(failures), failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", nargs="?", default="deploy/kubernetes")
    ap.add_argument("--kubernetes-version", default=K8S_VERSION)
    ap.add_argument("--no-kubectl", action="store_true", help="use the built-in renderer only")
    ap.add_argument("--self-test", action="store_true",
                    help="only the self-test: broken copies of the directory must be rejected")
    ap.add_argument("--no-self-test", action="store_true", help="skip the self-test after a clean validation")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every check that passed")
    args = ap.parse_args()

    if args.self_test:
        rejected, failures = self_test(args.directory, args.kubernetes_version)
        for f in failures:
            print(f"  NOT REJECTED: {f}")
        print(f"validate-deploy self-test: {'FAILED' if failures else 'OK'}: "
              f"{rejected}/{len(MUTATIONS)} broken copies of {args.directory} rejected")
        return 1 if failures else 0

    report, valid, renderer = validate(args.directory, args.kubernetes_version, not args.no_kubectl)
    for n in report.notes:
        print(f"  note: {n}")
    if args.verbose:
        for p in report.passed:
            print(f"  ok: {p}")
    for p in report.problems:
        print(f"  FAIL: {p}")
    if report.problems:
        print(f"validate-deploy: FAILED: {len(report.problems)} problem(s) in {args.directory} "
              f"({valid} documents schema-valid for Kubernetes {args.kubernetes_version}, {len(report.passed)} checks passed)")
        return 1
    tail = ""
    if not args.no_self_test:
        rejected, failures = self_test(args.directory, args.kubernetes_version, verbose=args.verbose)
        for f in failures:
            print(f"  FAIL (self-test): {f}")
        if failures:
            print(f"validate-deploy: FAILED: the manifests pass, but the validator's self-test rejected only "
                  f"{rejected}/{len(MUTATIONS)} broken copies")
            return 1
        tail = f"; self-test: {rejected}/{len(MUTATIONS)} broken copies rejected"
    print(f"validate-deploy: OK: {args.directory}: {valid} documents valid against Kubernetes "
          f"{args.kubernetes_version} schemas (strict), {len(report.passed)} policy checks passed; "
          f"rendered by {renderer}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

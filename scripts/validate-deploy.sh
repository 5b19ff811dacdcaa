#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/kubernetes/ (CI runs this):
#   scripts/validate-deploy.sh                 # validate, then the validator's self-test
#   scripts/validate-deploy.sh -v              # also list every check that passed
#   scripts/validate-deploy.sh --self-test     # only: broken copies must be rejected, each shown
#   scripts/validate-deploy.sh path/to/dir     # another kustomization directory
#
# - kubernetes-validate (PyPI) ships the Kubernetes JSON schemas, so validation needs no network
#   and no cluster; every document is checked strictly (unknown fields are errors) against one
#   fixed Kubernetes version (K8S_VERSION in scripts/validate_deploy.py, 1.32).
# - The kustomization is rendered by `kubectl kustomize` when kubectl is installed (the rust
#   machine image has it) and always by a small built-in renderer, which must agree with it;
#   kustomize itself is not packaged in Debian.
# - Then the project's policy checks (scripts/validate_deploy.py): replicas, non-root,
#   read-only root, probes on /readyz and /healthz, preStop + drain budget vs
#   terminationGracePeriodSeconds, the Service never reaching the admin port, mounts of the
#   certificate and ticket-key Secrets, and the tlsgate config against PRODUCT.md's schema.
#
# Exit status 0 when all pass, 1 otherwise; the last line is a one-line summary. Installs its
# dependency once (pip); later runs install nothing and take a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0

installed=$(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)
if [ "$installed" != "$KUBERNETES_VALIDATE_VERSION" ] || ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (PyPI)" >&2
  # A PEP 668 "externally managed" system Python refuses plain `pip install`; retry with
  # --break-system-packages there (pyenv/venv Pythons accept the first form).
  python3 -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
         "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

exec python3 scripts/validate_deploy.py "$@"

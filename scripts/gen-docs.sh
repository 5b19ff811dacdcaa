#!/usr/bin/env bash
# Regenerates the documentation that is derived from the catalogue of finding codes
# (src/findings/catalogue.rs): the section between `<!-- codes:begin -->` and
# `<!-- codes:end -->` in README.md and docs/codes.md becomes the output of
# `tlsgate codes --format markdown`. The unit tests in src/cli/codes/tests.rs fail until the
# documents match the table, and name this script.
set -euo pipefail
cd "$(dirname "$0")/.."

generated="$(mktemp)"
trap 'rm -f "$generated" "$generated.doc"' EXIT
cargo run --quiet -- codes --format markdown >"$generated"

for doc in README.md docs/codes.md; do
  if ! grep -q '^<!-- codes:begin -->$' "$doc" || ! grep -q '^<!-- codes:end -->$' "$doc"; then
    echo "gen-docs: $doc lacks the <!-- codes:begin --> / <!-- codes:end --> lines" >&2
    exit 1
  fi
  awk -v gen="$generated" '
    $0 == "<!-- codes:begin -->" { print; while ((getline line < gen) > 0) print line; skip = 1; next }
    $0 == "<!-- codes:end -->"   { skip = 0 }
    !skip                        { print }
  ' "$doc" >"$generated.doc"
  if cmp -s "$generated.doc" "$doc"; then
    echo "gen-docs: $doc is up to date"
  else
    cat "$generated.doc" >"$doc"
    echo "gen-docs: $doc regenerated"
  fi
done

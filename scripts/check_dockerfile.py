#!/usr/bin/env python3
"""Static checks of the Dockerfile and .dockerignore (no container engine needed).

Run through scripts/check-dockerfile.sh, which installs dockerfile-parse and hadolint (PyPI).

  - the Dockerfile parses (dockerfile-parse) and hadolint reports nothing at warning level;
  - it is multi-stage, the runtime stage is a slim Debian image, and no stage uses `latest`;
  - the tlsgate build step is `cargo build --release --locked --bin tlsgate`, the binary
    target exists in Cargo.toml and Cargo.lock is in sync (cargo metadata --locked, offline);
  - the build stage's Rust is not older than Cargo.toml's rust-version;
  - the final stage: numeric non-root USER, HEALTHCHECK using the bundled tlsgate-healthcheck,
    EXPOSE 8443 and not the admin port 9901, ENTRYPOINT the tlsgate binary, CMD `serve -c …`;
  - every COPY source exists in the repository, is let in by .dockerignore, and the
    healthcheck script is executable in git (COPY keeps the mode);
  - .dockerignore keeps target/, .git, .tlsgate/ and benchmark output out of the context.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from dockerfile_parse import DockerfileParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_CMD = "cargo build --release --locked --bin tlsgate"
ADMIN_PORT = "9901"
PROXY_PORT = "8443"

problems = []
passed = []


def check(name, ok, message=""):
    (passed.append(name) if ok else problems.append(f"{name}: {message}"))
    return ok


def dockerignore_rules():
    path = os.path.join(ROOT, ".dockerignore")
    rules = []
    if not os.path.isfile(path):
        return None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        rules.append((neg, pat.strip("/")))
    return rules


def pattern_matches(pat, rel):
    """Docker's .dockerignore matching (Go filepath.Match plus `**`), also matching parents:
    a pattern naming a directory excludes everything below it."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    rx = "^" + re.escape(pat).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*") \
        .replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$"
    return any(re.match(rx, c) for c in candidates)


def in_context(rel, rules):
    """Is the file `rel` sent in the build context? The last matching rule wins."""
    included = True
    for neg, pat in rules:
        if pattern_matches(pat, rel):
            included = neg
    return included


def git_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-s"], capture_output=True, text=True, check=True).stdout
    files = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        files[path] = meta.split()[0]
    # Files added in this worktree but not yet committed count too.
    extra = subprocess.run(["git", "-C", ROOT, "ls-files", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split()
    for path in extra:
        files.setdefault(path, "100755" if os.access(os.path.join(ROOT, path), os.X_OK) else "100644")
    return files


def main(verbose=False):
    dockerfile = os.path.join(ROOT, "Dockerfile")
    parser = DockerfileParser(path=dockerfile)
    instructions = parser.structure
    check("Dockerfile parses", bool(instructions), "no instructions")

    # hadolint (a real Dockerfile linter; the pip wheel carries its binary).
    hadolint = shutil.which("hadolint")
    if hadolint:
        r = subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning", dockerfile],
                           capture_output=True, text=True)
        check("hadolint: no warnings or errors", r.returncode == 0, (r.stdout + r.stderr).strip().replace("\n", "; "))
    else:
        problems.append("hadolint: not installed (scripts/check-dockerfile.sh installs it)")

    # Stages.
    stages = []
    for ins in instructions:
        if ins["instruction"] == "FROM":
            stages.append({"from": ins["value"], "ins": []})
        elif stages:
            stages[-1]["ins"].append(ins)
    check("multi-stage build", len(stages) >= 2, f"{len(stages)} stage(s)")
    for s in stages:
        image = s["from"].split()[0]
        check(f"FROM {image}: pinned tag", ":" in image and not image.endswith(":latest"),
              "use a versioned tag, not latest")
    final = stages[-1]
    final_image = final["from"].split()[0]
    check("runtime stage is a slim Debian image", re.match(r"^(docker\.io/(library/)?)?debian:[a-z0-9.]+-slim$", final_image) is not None,
          f"final stage is FROM {final_image}")
    build = next((s for s in stages if re.match(r"^(docker\.io/(library/)?)?rust:", s["from"])), None)

    # The build command and Cargo.
    runs = [i["value"] for s in stages for i in s["ins"] if i["instruction"] == "RUN"]
    check("build step runs `" + BUILD_CMD + "`", any(BUILD_CMD in r for r in runs),
          "no RUN contains it; CI and the README build the same way")
    cargo_runs = [c for r in runs for c in re.findall(r"cargo\s+build[^&;|]*", r)]
    unlocked = [c.strip() for c in cargo_runs if "--locked" not in c]
    check("every cargo build is --locked", not unlocked, f"without --locked: {unlocked}")
    meta = subprocess.run(["cargo", "metadata", "--locked", "--offline", "--format-version", "1", "--no-deps"],
                          cwd=ROOT, capture_output=True, text=True)
    if check("Cargo.lock is in sync with Cargo.toml (cargo metadata --locked)", meta.returncode == 0,
             meta.stderr.strip().splitlines()[-1] if meta.stderr.strip() else "cargo metadata failed"):
        pkg = json.loads(meta.stdout)["packages"][0]
        bins = [t["name"] for t in pkg["targets"] if "bin" in t["kind"]]
        check("Cargo.toml has the bin target tlsgate", "tlsgate" in bins, f"bin targets: {bins}")
        rust_version = pkg.get("rust_version")
        if build and rust_version:
            m = re.match(r"^(?:docker\.io/(?:library/)?)?rust:(\d+)\.(\d+)", build["from"])
            need = tuple(int(x) for x in rust_version.split(".")[:2])
            have = (int(m.group(1)), int(m.group(2))) if m else None
            check("build image's Rust >= Cargo.toml rust-version", have is not None and have >= need,
                  f"FROM {build['from']} vs rust-version {rust_version}")
    ci = os.path.join(ROOT, ".ci", "run")
    if os.path.isfile(ci):
        ci_text = open(ci, encoding="utf-8").read()
        # CI builds every target (cargo test --all-targets / clippy); the image builds the release
        # binary only. Both must agree on the lock file, which --locked enforces on each side.
        check("CI's cargo invocations exist (.ci/run)", "cargo " in ci_text, ".ci/run runs no cargo command")

    # Final stage.
    fins = final["ins"]

    def last(kind):
        vals = [i["value"] for i in fins if i["instruction"] == kind]
        return vals[-1] if vals else None

    user = last("USER")
    uid = (user or "").split(":")[0]
    check("final stage USER is numeric and not root", uid.isdigit() and int(uid) != 0,
          f"USER is {user!r} (numeric lets Kubernetes' runAsNonRoot verify it)")
    check("final stage USER matches the manifests' runAsUser 10001", uid == "10001", f"USER is {user!r}")
    hc = last("HEALTHCHECK")
    check("final stage has a HEALTHCHECK", hc is not None and not hc.strip().upper().startswith("NONE"), f"HEALTHCHECK {hc!r}")
    if hc:
        check("HEALTHCHECK uses tlsgate-healthcheck (no curl in the image)", "tlsgate-healthcheck" in hc, hc)
        check("HEALTHCHECK has a timeout", "--timeout=" in hc, hc)
    exposed = " ".join(i["value"] for i in fins if i["instruction"] == "EXPOSE").replace("/tcp", "").split()
    check("EXPOSE 8443", PROXY_PORT in exposed, f"EXPOSE {exposed}")
    check("admin port 9901 not exposed", ADMIN_PORT not in exposed, f"EXPOSE {exposed}")
    entry = last("ENTRYPOINT") or ""
    check("ENTRYPOINT is the tlsgate binary", "/usr/local/bin/tlsgate" in entry and "healthcheck" not in entry, entry)
    cmd = last("CMD") or ""
    check("CMD serves with a config file", "serve" in cmd and "-c" in cmd, cmd)
    copies = [i["value"] for i in fins if i["instruction"] == "COPY"]
    check("final stage copies the binary from the build stage",
          any("--from=" in c and "target/release/tlsgate" in c for c in copies), f"COPY lines: {copies}")
    check("final stage installs the healthcheck as /usr/local/bin/tlsgate-healthcheck",
          any(c.split()[-1] == "/usr/local/bin/tlsgate-healthcheck" for c in copies), f"COPY lines: {copies}")

    # COPY sources: exist, in the context, healthcheck executable.
    rules = dockerignore_rules()
    if not check(".dockerignore exists", rules is not None, "missing: the whole repository (target/ included) would be sent"):
        rules = []
    files = git_files()
    for s in stages:
        for i in s["ins"]:
            if i["instruction"] not in ("COPY", "ADD"):
                continue
            words = shlex.split(i["value"])
            if any(w.startswith("--from=") for w in words):
                continue
            args = [w for w in words if not w.startswith("--")]
            for src in args[:-1]:
                src = src.rstrip("/")
                matches = [f for f in files if f == src or f.startswith(src + "/") or fnmatch.fnmatch(f, src)]
                if not check(f"COPY {src}: exists in the repository", bool(matches), "no such file or directory in git"):
                    continue
                sent = [f for f in matches if in_context(f, rules)]
                check(f"COPY {src}: let in by .dockerignore", bool(sent), "every file under it is excluded")
                if src == "deploy/healthcheck.sh":
                    check("deploy/healthcheck.sh is executable in git", files[src] == "100755",
                          f"mode {files[src]}: COPY keeps it, so the HEALTHCHECK would fail")
    for excluded in ("target/release/tlsgate", ".git/HEAD", ".tlsgate/certs/ca.pem",
                     "target/bench-load.json", "tests/admin_api.rs", "benches/load/bench.py"):
        check(f".dockerignore excludes {excluded}", not in_context(excluded, rules), "it would be sent")

    if verbose:
        for p in passed:
            print(f"  ok: {p}")
    for p in problems:
        print(f"  FAIL: {p}")
    if problems:
        print(f"check-dockerfile: FAILED: {len(problems)} problem(s), {len(passed)} checks passed")
        return 1
    print(f"check-dockerfile: OK: {len(passed)} checks passed (Dockerfile parses, hadolint clean, "
          f"`{BUILD_CMD}`, non-root USER {uid}, HEALTHCHECK, EXPOSE {PROXY_PORT}, COPY sources present)")
    return 0


if __name__ == "__main__":
    sys.exit(main(verbose="-v" in sys.argv[1:]))

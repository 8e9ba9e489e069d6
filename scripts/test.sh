#!/usr/bin/env bash
# The one test command. Needs only Rust (cargo, cargo-nextest) and Python 3.11 with pip: it
# installs the pinned Python tools into .venv (cfn-lint, checkov, moto, cargo-lambda, zig) and
# Debian's chromium and chromium-driver when they are missing, then
# runs formatting and lints, builds the Lambda zip, runs every test (the AWS ones against the
# project's serialized moto launcher), and cfn-lint and checkov on every synthesized template.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements-$(sha256sum requirements-dev.txt | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing pinned Python tools into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt
  touch "$stamp"
fi

# The console's browser tests (tests/console.rs) drive Debian's headless Chromium over
# WebDriver: installed from Debian's packages when missing.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "==> installing Debian's chromium and chromium-driver for the console's browser tests"
  as_root=""
  if [ "$(id -u)" -ne 0 ]; then as_root="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $as_root apt-get install -y -qq chromium chromium-driver >/dev/null ||
    { $as_root apt-get update -qq && $as_root apt-get install -y -qq chromium chromium-driver >/dev/null; }
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> the generated resource types are what the generator writes (silos-codegen --check)"
cargo run --locked --quiet -p silos-codegen -- --check
echo "==> cargo clippy"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
echo "==> cargo check of the model with every AWS service enabled"
cargo check --locked --quiet -p silos-cfn --all-features
echo "==> the Lambda zips: the control plane and the tenant function (cargo-lambda, zig from .venv)"
for bin in silos-lambda silos-tenant-handler; do
  PATH="$PWD/$venv/bin:$PATH" cargo lambda build --profile lambda --output-format zip --bin "$bin" --x86-64 --quiet
done
echo "==> every binary the tests run (the CLI, the Lambda hosts, the examples' apps)"
# cargo nextest builds each package's test harnesses, and the binaries of the package under
# test only: tests/premium.rs runs the premium example's binary, which it would not build.
# `--tests` too, so the binaries are built with the dev-dependencies' features, as the test
# build has them, and the test build that follows reuses every unit.
cargo build --locked --workspace --bins --tests --quiet
echo "==> tests"
# cargo-nextest runs each test in its own process. A Rust install without it gets the pinned
# version built into .tools/ (a few minutes, once); if that cannot be built, cargo test runs.
nextest_version=0.9.143
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast
else
  if [ ! -x .tools/bin/cargo-nextest ]; then
    echo "==> cargo-nextest is not installed: building cargo-nextest $nextest_version into .tools/"
    cargo install --quiet --locked --root .tools cargo-nextest --version "$nextest_version" || true
  fi
  if [ -x .tools/bin/cargo-nextest ]; then
    echo "==> tests with .tools/bin/cargo-nextest $nextest_version"
    PATH="$PWD/.tools/bin:$PATH" cargo nextest run --locked --workspace --no-fail-fast
  else
    echo "==> cargo-nextest could not be built: running the tests with cargo test instead"
    cargo test --locked --workspace --no-fail-fast
  fi
fi

echo "==> cfn-lint and checkov on every synthesized template"
synth_dir=$(mktemp -d)
trap 'rm -rf "$synth_dir"' EXIT
for format in json yaml; do
  cargo run --locked --quiet -- synth --quiet --format "$format" --out "$synth_dir/$format"
done
# The premium example's (a user's app with a second tier) too.
cargo run --locked --quiet -p silos-example-premium -- synth --quiet --blueprints examples/premium/blueprints --out "$synth_dir/premium"
# The SaaS silo example's (a tenant stack of ten services: a key, an API, a topic, a workflow...).
cargo run --locked --quiet -p silos-example-saas-silo -- synth --quiet --blueprints examples/saas-silo/blueprints --out "$synth_dir/saas-silo"
# With cells in two more accounts: the control plane's grants, bus policies and forwarded-events rule.
mkdir -p "$synth_dir/cells-blueprints"
cp blueprints/*.yaml "$synth_dir/cells-blueprints/"
cat > "$synth_dir/cells-blueprints/cells.yaml" <<'CELLS'
cells:
  - name: home
    capacity: 500
  - name: eu-1
    account: "210987654321"
    region: eu-west-1
    capacity: 400
  - name: ap-1
    account: "310987654321"
    region: ap-south-1
CELLS
cargo run --locked --quiet -- synth --quiet --blueprints "$synth_dir/cells-blueprints" --out "$synth_dir/cells"
"$venv/bin/python" scripts/validate-templates.py "$venv" "$synth_dir/json" "$synth_dir/yaml" "$synth_dir/premium" "$synth_dir/saas-silo" "$synth_dir/cells"
echo "==> all checks passed"

#!/usr/bin/env bash
# Runs every check a change must pass: formatting, lints, and the whole test suite (unit,
# property, end-to-end). Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Rust toolchain's formatter and linter.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets are a workspace of their own (they build with libFuzzer under cargo-fuzz);
# type-checking and linting them here keeps them, and the `fuzzing` feature they use, from
# rotting between fuzzing runs. A check does not link, so libFuzzer's C++ is not compiled.
echo "== cargo clippy (fuzz targets)"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" CUSTOM_LIBFUZZER_PATH=/nonexistent/libfuzzer.a \
  cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

//! Every config in `examples/` validates: an example that rots is worse than none. The
//! directory is listed, so a new example is covered without touching this test.

use std::process::Command;

#[test]
fn every_example_config_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples directory") {
        let path = entry.expect("entry").path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !is_yaml {
            continue;
        }
        assert_validates(&path, &path.display().to_string());
        checked.push(path);
    }
    assert!(
        !checked.is_empty(),
        "no example configs found in {}",
        dir.display()
    );
}

/// The configs the scripts generate validate too: the side-by-side benchmark's, and the
/// training config of the profile-guided release build. A schema change that broke them would
/// otherwise surface only when someone benchmarks or builds a release.
#[test]
fn the_configs_the_bench_scripts_generate_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = crate::harness::scratch_dir();
    for (script, args) in [
        ("bench/config.sh", ["29080", "127.0.0.1:29081"]),
        ("bench/train-config.sh", ["29190", "29191"]),
    ] {
        let made = run_ok(
            Command::new("bash").arg(root.join(script)).args(args),
            &format!("{script} failed"),
        );
        let path = dir.join("generated.yaml");
        std::fs::write(&path, made).expect("write the config");
        assert_validates(&path, &format!("the config {script} makes"));
    }
}

/// Runs `banyan validate -c path`, and fails with its report unless the file is valid.
fn assert_validates(path: &std::path::Path, what: &str) {
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_banyan"))
            .args(["validate", "-c"])
            .arg(path),
        &format!("{what} does not validate"),
    );
}

/// Runs `cmd`; fails with `failure` and its standard error unless it succeeds. Gives its
/// standard output.
fn run_ok(cmd: &mut Command, failure: &str) -> Vec<u8> {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{failure}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

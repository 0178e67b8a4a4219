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
        let out = Command::new(env!("CARGO_BIN_EXE_banyan"))
            .args(["validate", "-c"])
            .arg(&path)
            .output()
            .expect("run banyan validate");
        assert!(
            out.status.success(),
            "{} does not validate:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
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
        let made = Command::new("bash")
            .arg(root.join(script))
            .args(args)
            .output()
            .expect("run the script");
        assert!(
            made.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let path = dir.join("generated.yaml");
        std::fs::write(&path, &made.stdout).expect("write the config");
        let out = Command::new(env!("CARGO_BIN_EXE_banyan"))
            .args(["validate", "-c"])
            .arg(&path)
            .output()
            .expect("run banyan validate");
        assert!(
            out.status.success(),
            "{script} makes a config that does not validate:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

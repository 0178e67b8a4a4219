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

//! The systemd unit shipped in `edge-host/omnirule-store.service`: the one the README shows,
//! and valid for `systemd-analyze verify` (where systemd is installed; skipped with a note
//! elsewhere) against the host binary this build made.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("omnirule-store.service"))
        .unwrap()
}

#[test]
fn the_readme_shows_the_shipped_unit() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```ini\n# /etc/systemd/system/omnirule-store.service\n")
        .expect("the README shows the unit");
    let body = &readme[start + "```ini\n# /etc/systemd/system/omnirule-store.service\n".len()..];
    let body = &body[..body.find("```").unwrap()];
    let shipped = unit();
    let shipped = shipped.split_once('\n').unwrap().1;
    assert_eq!(
        body, shipped,
        "edge-host/README.md and edge-host/omnirule-store.service differ"
    );
    // What the unit relies on: the config file the example documents, a clean stop.
    assert!(shipped.contains(
        "ExecStart=/usr/local/bin/omnirule-store --config /etc/omnirule-store/store.toml"
    ));
    assert!(shipped.contains("KillSignal=SIGTERM"));
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit is not verified here");
        return;
    };
    assert!(version.status.success());
    let dir = std::env::temp_dir().join(format!("omnirule-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("omnirule-store.service");
    let binary = env!("CARGO_BIN_EXE_omnirule-store");
    std::fs::write(
        &path,
        unit().replace("/usr/local/bin/omnirule-store", binary),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And it does catch a broken unit (so the check above can fail).
    std::fs::write(
        &path,
        unit().replace(
            "/usr/local/bin/omnirule-store",
            "/nonexistent/omnirule-store",
        ),
    )
    .unwrap();
    let bad = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    std::fs::remove_dir_all(&dir).ok();
}

//! Durability: a full disk. The host's data directory is a small tmpfs of the test's own; a
//! filler file takes the space that is left; events are then refused with 503 (never a 500,
//! never an acknowledgement of what was not stored), and once space returns events are
//! accepted again. After a SIGKILL and a restart, every event acknowledged before, during and
//! after is in its customer's memory, and the database passes `PRAGMA integrity_check`.
//!
//! Needs to mount a tmpfs (root, or CAP_SYS_ADMIN); where that is not allowed the test says so
//! and does nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const KNIT: &str = "02-knitwear-in-store";

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallFs {
    path: PathBuf,
}

impl SmallFs {
    fn mount(path: &Path, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem of `dir` with a file until a write fails (the disk is full).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 16 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    // And the last few bytes a partial chunk could still take.
    while f.write_all(&[0x5a; 512]).is_ok() {}
    path
}

fn event_body(customer: &str, id: &str, n: u64) -> String {
    let mut profile = example_profile(KNIT);
    profile["id"] = json!(customer);
    let event = json!({"type": "page_view", "id": id, "time": 1_795_000_000_000u64 + n * 1000,
                       "sku": format!("SW-{n}"), "category": "knitwear", "price": 79});
    json!({"customer": customer, "profile": profile, "event": event}).to_string()
}

#[test]
fn a_full_disk_refuses_events_and_loses_nothing_acknowledged() {
    let root = temp_dir("disk-full");
    let Some(fs) = SmallFs::mount(&root.join("fs"), "6m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let data = fs.path.clone();
    let bundle = example_bundle(KNIT).to_bytes();
    let mut host = Host::start(&data, Some(&bundle), HostOptions::default());

    let mut acked: Vec<(String, String)> = Vec::new();
    let mut post = |host: &Host, customer: &str, id: &str, n: u64| -> u16 {
        let r = request(
            host.addr,
            "POST",
            "/v1/events",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            event_body(customer, id, n).as_bytes(),
        );
        assert_ne!(r.status, 500, "{}", r.text());
        if r.status == 200 {
            acked.push((customer.to_string(), id.to_string()));
        } else {
            assert_eq!(r.status, 503, "{}", r.text());
            assert_eq!(r.code(), "storage_error", "{}", r.text());
        }
        r.status
    };

    for n in 0..20 {
        assert_eq!(
            post(&host, &format!("c{}", n % 5), &format!("before-{n}"), n),
            200
        );
    }
    let filler = fill(&data);
    let mut refused = 0;
    for n in 20..80 {
        // New customers, so that each write needs room (a new row, new pages).
        if post(&host, &format!("full-{n}"), &format!("during-{n}"), n) == 503 {
            refused += 1;
        }
    }
    assert!(refused > 0, "no event was refused on a full disk");
    // Reads still work on a full disk.
    assert_eq!(host.get("/v1/customers/c0").status, 200);

    // Space returns: events are accepted again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    for n in 80..90 {
        assert_eq!(
            post(&host, &format!("c{}", n % 5), &format!("after-{n}"), n),
            200
        );
    }

    host.kill();
    {
        let conn = rusqlite::Connection::open(data.join("store.db")).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
    let host = Host::start(&data, None, HostOptions::default());
    for (customer, id) in &acked {
        let r = host.get(&format!("/v1/customers/{customer}"));
        assert_eq!(r.status, 200, "{customer}: {}", r.text());
        assert!(
            seen_ids(&r.json()).contains(id),
            "{customer} lost the acknowledged event {id}"
        );
    }
    println!(
        "disk-full: {} events acknowledged and kept, {refused} refused while full",
        acked.len()
    );
    drop(host);
    drop(fs);
}

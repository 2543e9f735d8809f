//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Read a test vector: the repo's own `tests/vectors/` first, then the
/// team's `../shared/vectors/`. `None` when neither has it, which is a
/// failure under CI (where `../shared` is always present).
pub fn vector(name: &str) -> Option<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in [root.join("tests/vectors"), root.join("../shared/vectors")] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            return Some(bytes);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test vector {name} missing (expected in tests/vectors or ../shared/vectors)"
    );
    eprintln!("skipping: test vector {name} not found");
    None
}

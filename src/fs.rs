//! Files replaced whole and durably: the status files are the only record
//! of players' best-ever shares, so a crash or power cut must leave the
//! old file or the new one, never half of one or none.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replace `path` with `bytes` atomically and durably: write a sibling
/// `<name>.tmp` in the same directory, fsync it, rename it over `path`,
/// then fsync the directory so the rename itself survives a power cut.
/// Readers see the old file or the new one, never part of either. On an
/// error the temporary file is removed (best effort) and `path` is left
/// as it was, unless only the final directory fsync failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(parent(path))
}

/// The temporary sibling `write_atomic` writes first.
fn temp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// fsync a directory, making the entries renamed into it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("tbg-fs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status");
        write_atomic(&path, b"first, and longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first, and longer");
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["status"], "no temporary file left behind");
        // A directory that does not exist: an error, and nothing created.
        let missing = dir.join("missing/status");
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(!missing.with_extension("tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}

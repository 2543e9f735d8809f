//! A sink's on-disk spool: an append-only file of events (one JSON line
//! each) written while the sink is down, replayed in order when it is back,
//! and after a collector restart. The replay position is kept in a small
//! side file, so a crash mid-replay resumes where it stopped (and the
//! sinks' idempotent writes absorb the one batch that may be written twice).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::record::StoredEvent;

/// One sink's spool.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    file: File,
    /// Bytes already replayed.
    offset: u64,
}

impl Spool {
    /// Open (or create) `<dir>/<name>.spool`.
    pub fn open(dir: &Path, name: &str) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.spool"));
        let offset_path = dir.join(format!("{name}.spool.offset"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        let offset = fs::read_to_string(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(Spool {
            path,
            offset_path,
            file,
            offset,
        })
    }

    /// Bytes not yet replayed.
    pub fn pending_bytes(&self) -> u64 {
        self.file
            .metadata()
            .map_or(0, |m| m.len())
            .saturating_sub(self.offset)
    }

    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }

    /// Append events (flushed to the OS; fsync is left to the OS so a
    /// burst of spilling does not stall on the disk).
    pub fn append(&mut self, events: &[StoredEvent]) -> io::Result<()> {
        let mut text = String::with_capacity(events.len() * 256);
        for e in events {
            text.push_str(e.spool_line());
            text.push('\n');
        }
        self.file.write_all(text.as_bytes())
    }

    /// The next batch to replay (up to `max` events) and where it ends.
    pub fn peek(&mut self, max: usize) -> io::Result<(Vec<StoredEvent>, u64)> {
        let mut reader = BufReader::new(&self.file);
        reader.seek(SeekFrom::Start(self.offset))?;
        let (mut events, mut end) = (Vec::new(), self.offset);
        let mut line = String::new();
        while events.len() < max {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break; // end, or a line still being written
            }
            end += n as u64;
            // A corrupt line (a crash mid-write) is skipped, not fatal.
            if let Some(e) = StoredEvent::from_spool_line(line.trim_end()) {
                events.push(e);
            }
        }
        Ok((events, end))
    }

    /// Mark everything up to `end` as replayed; empty the file when done.
    pub fn commit(&mut self, end: u64) -> io::Result<()> {
        self.offset = end;
        if self.pending_bytes() == 0 {
            self.file.set_len(0)?;
            self.offset = 0;
            let _ = fs::remove_file(&self.offset_path);
            return Ok(());
        }
        fs::write(&self.offset_path, self.offset.to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::collector::record::test_event as event;

    #[test]
    fn append_replay_commit_and_resume() {
        let dir = std::env::temp_dir().join(format!("tbg-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, "redis").unwrap();
        assert!(spool.is_empty());
        spool
            .append(&(1..=5).map(event).collect::<Vec<_>>())
            .unwrap();
        let (batch, end) = spool.peek(2).unwrap();
        assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        spool.commit(end).unwrap();
        drop(spool);
        // A restart resumes after what was replayed.
        let mut spool = Spool::open(&dir, "redis").unwrap();
        let (batch, end) = spool.peek(10).unwrap();
        assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        spool.commit(end).unwrap();
        assert!(spool.is_empty());
        assert_eq!(fs::metadata(spool.path()).unwrap().len(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}

//! A sink's on-disk spool: an append-only file of events written while
//! the sink is down, replayed in order when it is back, and after a
//! collector restart. Records are length-prefixed and checksummed (see
//! [`format`]), so damage is found rather than read as events:
//!
//! - **Torn tail** (a crash or a full disk mid-append): on open, the first
//!   record that is not valid and is not followed by any valid record ends
//!   the data; the file is cut there (and synced), counted in
//!   [`Spool::torn_tails`]. The next append starts on a clean boundary, so
//!   it is never glued to the torn bytes.
//! - **Damage in the middle**: replay skips to the next valid record
//!   (found at any byte, not only after a newline), so one bad record
//!   never swallows the ones after it; the skipped bytes are counted in
//!   [`Spool::skipped_bytes`].
//! - **Replay position**: `<name>.spool.offset` holds the bytes already
//!   replayed, replaced atomically (temp file, fsync, rename, fsync of the
//!   directory). A crash mid-replay resumes there, and the sinks'
//!   idempotent writes absorb the batch that may be written twice.
//!
//! Opening reads the whole file once (checksums included) to find its
//! valid end and the record boundaries the offset must sit on.
//!
//! Appends are not fsynced (a burst of spilling must not stall on the
//! disk): a killed collector loses nothing the OS has, a power cut may
//! lose the newest records, and what it leaves torn is cut on open.

mod format;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use self::format::{Reader, Record};
use super::record::StoredEvent;

/// One sink's spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    path: PathBuf,
    offset_path: PathBuf,
    /// Where a new offset is written before it is renamed over the old.
    offset_tmp: PathBuf,
    file: File,
    /// End of the valid records. Bytes past it (left by an append that
    /// failed and could not be cut back) are never read, and the next
    /// append overwrites them.
    len: u64,
    /// Bytes already replayed.
    offset: u64,
    torn_tails: u64,
    skipped_bytes: u64,
}

/// The next events to replay, and where they end in the spool.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<StoredEvent>,
    /// Pass to [`Spool::commit`] once the sink has them.
    pub end: u64,
    /// Bytes of damaged or unreadable records among them, skipped.
    skipped_bytes: u64,
}

/// What a scan of the whole file on open found.
struct Scan {
    /// End of the last valid record that no damage follows to the end.
    valid_end: u64,
    /// Whether the stored offset is a place the replay could have
    /// stopped at (a record boundary), given the same bytes.
    offset_on_boundary: bool,
}

impl Spool {
    /// Open (or create) `<dir>/<name>.spool`: cut a torn tail, and check
    /// the stored replay position.
    pub fn open(dir: &Path, name: &str) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.spool"));
        let offset_path = dir.join(format!("{name}.spool.offset"));
        let offset_tmp = dir.join(format!("{name}.spool.offset.tmp"));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        let file_len = file.metadata()?.len();
        let stored = read_offset(&offset_path);
        let scan = scan(&file, file_len, stored)?;
        let torn_tails = cut_torn_tail(&file, &path, file_len, scan.valid_end)?;
        let offset = checked_offset(&path, stored, &scan);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            path,
            offset_path,
            offset_tmp,
            file,
            len: scan.valid_end,
            offset,
            torn_tails,
            skipped_bytes: 0,
        };
        if offset != stored {
            // Durably, before any append: once the file grows past the
            // old offset, a restart could take it for a boundary again.
            spool.forget_offset()?;
        }
        if spool.len > 0 && spool.is_empty() {
            spool.clear()?; // all replayed, not yet emptied: finish that
        }
        Ok(spool)
    }

    /// Bytes not yet replayed.
    pub fn pending_bytes(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }

    /// Append events in one write at the end of the valid records. On a
    /// failed or short write (a full disk), the file is cut back to where
    /// it was, so the next append does not follow a torn record; the
    /// error is returned for the caller to report.
    pub fn append(&mut self, events: &[StoredEvent]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(events.len() * 320);
        for e in events {
            format::encode(e.spool_line(), &mut bytes)?;
        }
        if let Err(e) = self.file.write_all_at(&bytes, self.len) {
            // If even this fails, `len` still marks the valid end: the
            // torn bytes are never read and the next append overwrites them.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The next events to replay (up to `max`).
    pub fn peek(&mut self, max: usize) -> io::Result<Batch> {
        let mut reader = Reader::new(&self.file, self.len);
        let mut batch = Batch {
            events: Vec::new(),
            end: self.offset,
            skipped_bytes: 0,
        };
        while batch.events.len() < max && batch.end < reader.limit() {
            let pos = batch.end;
            let line_start = reader.is_line_start(pos)?;
            match reader.record_at(pos, line_start)? {
                Some(r) => {
                    match read_event(&mut reader, r)? {
                        Some(e) => batch.events.push(e),
                        None => batch.skipped_bytes += r.end - r.start,
                    }
                    batch.end = r.end;
                }
                None => {
                    let next = reader.next_record_after(pos)?;
                    batch.end = next.map_or(reader.limit(), |r| r.start);
                    batch.skipped_bytes += batch.end - pos;
                }
            }
        }
        Ok(batch)
    }

    /// Mark `batch` as replayed; empty the spool when everything is.
    pub fn commit(&mut self, batch: &Batch) -> io::Result<()> {
        self.skipped_bytes += batch.skipped_bytes;
        self.offset = batch.end.min(self.len);
        if self.is_empty() {
            return self.clear();
        }
        self.write_offset()
    }

    /// Empty the spool: FIRST make "nothing replayed" durable (remove the
    /// offset file, sync the directory), THEN cut the file. A crash in
    /// between leaves every record with offset 0: all replayed again, and
    /// absorbed by the sinks' idempotent writes. The other order would
    /// leave an old offset over a file that new events then fill, and a
    /// restart would skip them.
    fn clear(&mut self) -> io::Result<()> {
        self.forget_offset()?;
        self.file.set_len(0)?;
        // Synced, so a power cut cannot bring old records back under a
        // later offset.
        self.file.sync_all()?;
        self.len = 0;
        self.offset = 0;
        Ok(())
    }

    /// Remove the offset file durably: the replay position is 0.
    fn forget_offset(&self) -> io::Result<()> {
        match fs::remove_file(&self.offset_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => sync_dir(&self.dir),
        }
    }

    /// Replace the offset file atomically and durably.
    fn write_offset(&self) -> io::Result<()> {
        let mut f = File::create(&self.offset_tmp)?;
        f.write_all(self.offset.to_string().as_bytes())?;
        f.sync_all()?;
        fs::rename(&self.offset_tmp, &self.offset_path)?;
        sync_dir(&self.dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Torn tails cut when this spool was opened (0 or 1).
    pub fn torn_tails(&self) -> u64 {
        self.torn_tails
    }

    /// Bytes of damaged or unreadable records skipped by replays so far.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }
}

/// The event in a valid record; `None` if its payload is not one (a
/// record that a checksum cannot fault, say from a newer schema).
fn read_event(reader: &mut Reader, r: Record) -> io::Result<Option<StoredEvent>> {
    let payload = reader.payload(r)?;
    Ok(std::str::from_utf8(payload)
        .ok()
        .and_then(StoredEvent::from_spool_line))
}

/// The stored replay position; 0 if there is none or it is unreadable
/// (replaying from the start is always safe).
fn read_offset(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Walk the file from its start as a replay would, to find where its
/// valid data ends and whether `offset` is one of the places a replay
/// stops at.
fn scan(file: &File, file_len: u64, offset: u64) -> io::Result<Scan> {
    let mut reader = Reader::new(file, file_len);
    let (mut pos, mut offset_on_boundary) = (0, offset == 0);
    while pos < reader.limit() {
        let line_start = reader.is_line_start(pos)?;
        if let Some(r) = reader.record_at(pos, line_start)? {
            pos = r.end;
        } else if let Some(r) = reader.next_record_after(pos)? {
            pos = r.start; // damage in the middle: replay skips it
        } else {
            break; // damage up to the end: a torn tail
        }
        offset_on_boundary |= pos == offset;
    }
    Ok(Scan {
        valid_end: pos.min(reader.limit()),
        offset_on_boundary,
    })
}

/// Cut the file at `valid_end` if bytes follow it (synced, so the cut
/// holds); returns the torn tails cut (0 or 1).
fn cut_torn_tail(file: &File, path: &Path, file_len: u64, valid_end: u64) -> io::Result<u64> {
    if valid_end >= file_len {
        return Ok(0);
    }
    file.set_len(valid_end)?;
    file.sync_all()?;
    log_warn!(
        "{}: cut a torn tail of {} bytes at byte {valid_end}",
        path.display(),
        file_len - valid_end
    );
    Ok(1)
}

/// The replay position to use. An offset past the valid data (a file cut
/// or lost under it) or off every record boundary (the offset belongs to
/// other bytes than these) cannot be trusted: starting from it could skip
/// events never replayed. Starting from 0 replays too much instead, which
/// is safe: the sinks' writes are idempotent on (pool, seq).
fn checked_offset(path: &Path, stored: u64, scan: &Scan) -> u64 {
    if stored <= scan.valid_end && scan.offset_on_boundary {
        return stored;
    }
    log_warn!(
        "{}: replay offset {stored} is not a record boundary of the {} valid bytes; replaying from the start",
        path.display(),
        scan.valid_end
    );
    0
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;

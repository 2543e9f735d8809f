use super::*;

use crate::collector::record::test_event as event;

/// A fresh directory for one test (removed when dropped).
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("tbg-spool-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        Dir(path)
    }

    fn spool(&self) -> PathBuf {
        self.0.join("s.spool")
    }

    fn offset(&self) -> PathBuf {
        self.0.join("s.spool.offset")
    }

    fn open(&self) -> Spool {
        Spool::open(&self.0, "s").unwrap()
    }

    /// Bytes added to the spool file behind the spool's back.
    fn write_raw(&self, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(self.spool()).unwrap();
        f.write_all(bytes).unwrap();
    }

    fn len(&self) -> u64 {
        fs::metadata(self.spool()).unwrap().len()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn events(seqs: impl IntoIterator<Item = u64>) -> Vec<StoredEvent> {
    seqs.into_iter().map(event).collect()
}

/// One record as the spool writes it.
fn record(seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    format::encode(event(seq).spool_line(), &mut out).unwrap();
    out
}

/// Replay everything (in batches of 2), committing as the runner does.
fn replay_all(spool: &mut Spool) -> Vec<u64> {
    replay_in_batches(spool, 2)
}

fn replay_in_batches(spool: &mut Spool, max: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while !spool.is_empty() {
        let batch = spool.peek(max).unwrap();
        seqs.extend(batch.events.iter().map(|e| e.seq));
        spool.commit(&batch).unwrap();
    }
    seqs
}

#[test]
fn append_replay_commit_and_resume() {
    let dir = Dir::new("resume");
    let mut spool = dir.open();
    assert!(spool.is_empty());
    spool.append(&events(1..=5)).unwrap();
    let batch = spool.peek(2).unwrap();
    assert_eq!(
        batch.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2]
    );
    spool.commit(&batch).unwrap();
    drop(spool);
    // A restart resumes after what was replayed.
    let mut spool = dir.open();
    assert_eq!(replay_all(&mut spool), [3, 4, 5]);
    assert_eq!(dir.len(), 0);
    assert!(!dir.offset().exists());
    assert_eq!((spool.torn_tails(), spool.skipped_bytes()), (0, 0));
}

#[test]
fn a_torn_tail_is_cut_on_open_and_the_next_append_is_not_glued_to_it() {
    let dir = Dir::new("torn-tail");
    let mut spool = dir.open();
    spool.append(&events([1])).unwrap();
    drop(spool);
    let whole = dir.len();
    dir.write_raw(&record(2)[..30]); // a crash mid-append
    let mut spool = dir.open();
    assert_eq!(spool.torn_tails(), 1);
    assert_eq!(dir.len(), whole, "cut back to the last whole record");
    spool.append(&events([3, 4])).unwrap();
    assert_eq!(replay_all(&mut spool), [1, 3, 4]);
    assert_eq!(spool.skipped_bytes(), 0);
}

#[test]
fn a_torn_record_in_the_middle_does_not_swallow_the_records_after_it() {
    let dir = Dir::new("torn-middle");
    drop(dir.open());
    // [1, torn 2, 3, 4]: 3 is glued to the torn 2, on the same line.
    let torn = &record(2)[..40];
    dir.write_raw(&[record(1), torn.to_vec(), record(3), record(4)].concat());
    let mut spool = dir.open();
    assert_eq!(spool.torn_tails(), 0, "valid records follow: not a tail");
    assert_eq!(replay_all(&mut spool), [1, 3, 4]);
    assert_eq!(spool.skipped_bytes(), torn.len() as u64);
}

#[test]
fn a_damaged_record_is_skipped_not_read_as_another_event() {
    let dir = Dir::new("damaged");
    drop(dir.open());
    let mut two = record(2);
    let digit = two.windows(7).position(|w| w == b"\"seq\":2").unwrap() + 6;
    two[digit] = b'7'; // still valid JSON, but the checksum no longer matches
    dir.write_raw(&[record(1), two.clone(), record(3)].concat());
    let mut spool = dir.open();
    assert_eq!(replay_all(&mut spool), [1, 3]);
    assert_eq!(spool.skipped_bytes(), two.len() as u64);
}

#[test]
fn a_zeroed_tail_is_cut() {
    let dir = Dir::new("zeroed");
    drop(dir.open());
    dir.write_raw(&[record(1), vec![0; 300]].concat());
    let mut spool = dir.open();
    assert_eq!(spool.torn_tails(), 1);
    assert_eq!(dir.len(), record(1).len() as u64);
    assert_eq!(replay_all(&mut spool), [1]);
}

#[test]
fn emptying_removes_the_offset_before_it_cuts_the_file() {
    let dir = Dir::new("offset-zero-first");
    let mut spool = dir.open();
    spool.append(&events(1..=3)).unwrap();
    let batch = spool.peek(2).unwrap();
    spool.commit(&batch).unwrap();
    // The offset file cannot be removed (a directory in its place): the
    // spool must not be cut under an offset that survives.
    fs::remove_file(dir.offset()).unwrap();
    fs::create_dir_all(dir.offset().join("x")).unwrap();
    let whole = dir.len();
    let batch = spool.peek(2).unwrap();
    assert!(spool.commit(&batch).is_err());
    assert_eq!(dir.len(), whole, "not cut while the offset stays");
    drop(spool);
    // A crash between the two steps leaves no offset and every record:
    // all replayed again, absorbed by the sinks' idempotent writes.
    fs::remove_dir_all(dir.offset()).unwrap();
    assert_eq!(replay_all(&mut dir.open()), [1, 2, 3]);
}

#[test]
fn an_offset_past_the_end_means_zero() {
    // What cutting first and removing the offset second left after a
    // crash between the two: an empty file under a stale offset, which
    // then skipped the events spooled next.
    let dir = Dir::new("offset-past-end");
    drop(dir.open());
    fs::write(dir.offset(), "500").unwrap();
    let mut spool = dir.open();
    spool.append(&events(1..=4)).unwrap();
    assert_eq!(replay_all(&mut spool), [1, 2, 3, 4]);
}

#[test]
fn an_offset_found_untrustworthy_stays_forgotten_after_the_file_grows_past_it() {
    // A tail cut below the offset: the offset is dropped on open. Had it
    // stayed in its file, records appended up to and past it would make
    // it a boundary again at the next open, and those below it skipped
    // (found by the kill -9 test, tests/collector_spool.rs).
    let dir = Dir::new("offset-forgotten");
    let mut spool = dir.open();
    spool.append(&events(1..=4)).unwrap();
    let batch = spool.peek(3).unwrap();
    spool.commit(&batch).unwrap();
    drop(spool);
    let whole = record(1).len() as u64;
    let file = OpenOptions::new().write(true).open(dir.spool()).unwrap();
    file.set_len(whole + 7).unwrap(); // 2 torn: the offset (after 3) is past the end
    let mut spool = dir.open();
    assert!(!dir.offset().exists());
    spool.append(&events(5..=8)).unwrap();
    drop(spool);
    assert_eq!(replay_all(&mut dir.open()), [1, 5, 6, 7, 8]);
}

#[test]
fn an_offset_off_a_record_boundary_replays_from_the_start() {
    let dir = Dir::new("offset-off-boundary");
    let mut spool = dir.open();
    spool.append(&events(1..=3)).unwrap();
    drop(spool);
    fs::write(dir.offset(), (record(1).len() + 5).to_string()).unwrap();
    let mut spool = dir.open();
    assert_eq!(replay_all(&mut spool), [1, 2, 3]);
}

#[test]
fn the_offset_is_kept_on_a_boundary_and_written_atomically() {
    let dir = Dir::new("offset-boundary");
    let mut spool = dir.open();
    spool.append(&events(1..=3)).unwrap();
    let batch = spool.peek(1).unwrap();
    spool.commit(&batch).unwrap();
    assert_eq!(
        fs::read_to_string(dir.offset()).unwrap(),
        record(1).len().to_string()
    );
    assert!(!dir.0.join("s.spool.offset.tmp").exists());
    drop(spool);
    assert_eq!(replay_all(&mut dir.open()), [2, 3]);
}

#[test]
fn legacy_json_lines_are_replayed_and_new_records_follow_them() {
    let dir = Dir::new("legacy");
    fs::create_dir_all(&dir.0).unwrap();
    let lines: String = (1..=3)
        .map(|i| format!("{}\n", event(i).spool_line()))
        .collect();
    let first = event(1).spool_line().len() + 1;
    // An earlier version's spool: bare lines, one replayed, and a torn last one.
    let four = event(4);
    let torn = &four.spool_line()[..25];
    fs::write(dir.spool(), format!("{lines}{torn}")).unwrap();
    fs::write(dir.offset(), first.to_string()).unwrap();
    let mut spool = dir.open();
    assert_eq!(spool.torn_tails(), 1);
    spool.append(&events([5])).unwrap();
    assert_eq!(replay_all(&mut spool), [2, 3, 5]);
}

#[test]
fn bytes_left_past_a_failed_append_are_never_read_and_then_overwritten() {
    let dir = Dir::new("failed-append");
    let mut spool = dir.open();
    spool.append(&events([1])).unwrap();
    // What a failed append leaves when it cannot even be cut back.
    dir.write_raw(&record(2)[..30]);
    assert_eq!(spool.pending_bytes(), record(1).len() as u64);
    spool.append(&events([3])).unwrap();
    assert_eq!(replay_all(&mut spool), [1, 3]);
    assert_eq!(spool.skipped_bytes(), 0);
}

#[test]
fn a_line_of_garbage_between_records_is_skipped() {
    let dir = Dir::new("garbage-between");
    drop(dir.open());
    dir.write_raw(&[record(1), b"garbage\n".to_vec(), record(2)].concat());
    let mut spool = dir.open();
    assert_eq!(replay_all(&mut spool), [1, 2]);
    assert_eq!(spool.skipped_bytes(), 8);
}

/// xorshift64*, for the damage below.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Twelve records with one random damage: bytes overwritten, the file
/// cut, or bytes inserted. Returns the file and the seqs of the records
/// the damage left whole.
fn damaged_spool(rng: &mut u64) -> (Vec<u8>, Vec<u64>) {
    let records: Vec<Vec<u8>> = (1..=12).map(record).collect();
    let mut bytes = records.concat();
    let at = (next(rng) % bytes.len() as u64) as usize;
    let len = 1 + (next(rng) % 60) as usize;
    let hit: Box<dyn Fn(usize, usize) -> bool> = match next(rng) % 3 {
        0 => {
            let end = (at + len).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b = next(rng) as u8;
            }
            Box::new(move |s, e| s < end && at < e)
        }
        1 => {
            bytes.truncate(at);
            Box::new(move |_, e| e > at)
        }
        _ => {
            let garbage: Vec<u8> = (0..len).map(|_| next(rng) as u8).collect();
            bytes.splice(at..at, garbage);
            Box::new(move |s, e| s < at && at < e)
        }
    };
    let mut whole = Vec::new();
    let mut start = 0;
    for (seq, r) in (1..).zip(&records) {
        if !hit(start, start + r.len()) {
            whole.push(seq);
        }
        start += r.len();
    }
    (bytes, whole)
}

#[test]
fn random_damage_never_costs_a_whole_record_nor_invents_one() {
    let dir = Dir::new("random-damage");
    let mut rng = 0x5EED_u64;
    for round in 0..300 {
        let (bytes, whole) = damaged_spool(&mut rng);
        fs::create_dir_all(&dir.0).unwrap();
        fs::write(dir.spool(), &bytes).unwrap();
        let _ = fs::remove_file(dir.offset());
        // One batch: each commit syncs the disk, and 300 rounds add up.
        let replayed = replay_in_batches(&mut dir.open(), 100);
        assert!(
            replayed.windows(2).all(|w| w[0] < w[1])
                && replayed.iter().all(|s| (1..=12).contains(s)),
            "round {round}: {replayed:?}"
        );
        for seq in &whole {
            assert!(
                replayed.contains(seq),
                "round {round}: {seq} lost: {replayed:?}"
            );
        }
    }
}

//! The PostgreSQL sink: every event a row of `mining_events` (payload as
//! `jsonb`), plus per-user hourly share statistics in `hourly_shares`.
//!
//! A batch is one transaction. First the fast path: binary COPY straight
//! into `mining_events` (under a savepoint) and, in the native layout, the
//! batch's `hourly_shares` sums computed here and upserted in one
//! statement. A batch holding an event already stored (a replay after a
//! failure) breaks the key: back to the savepoint, and the safe path —
//! binary COPY into a session temp table, then one `INSERT … ON CONFLICT
//! DO NOTHING` whose returned rows (only the events really inserted) feed
//! the `hourly_shares` upsert — so a replayed batch stores nothing twice
//! and counts nothing twice. (The fast path does about 1.6× the rows per
//! second of the safe one on this machine's PostgreSQL 15: no second copy
//! of each row, no conflict check.) Schema and partitions:
//! [`super::migrations`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};
use simd_json::prelude::*;

use super::migrations::{self, Layout, DAYS_AHEAD, RETENTION_DAYS};
use super::record::StoredEvent;
use super::sink::{Sink, SinkError};
use crate::events::EventKind;

/// Session settings: UTC for anything date-shaped, bounded waits.
const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'; SET statement_timeout = '60s'";

/// Per-session staging table for a batch, emptied by every commit.
const CREATE_BATCH_TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS tbg_batch (\
     pool text NOT NULL, run text NOT NULL, seq bigint NOT NULL, event_type text NOT NULL, \
     ts timestamptz NOT NULL, payload text NOT NULL) ON COMMIT DELETE ROWS";

const COPY_BATCH: &str =
    "COPY tbg_batch (pool, run, seq, event_type, ts, payload) FROM STDIN (FORMAT binary)";

/// The fast path's COPY, straight into the table (columns as [`COPY_BATCH`]).
const COPY_DIRECT: &str = "COPY mining_events (pool, run, seq, event_type, ts, payload) \
     FROM STDIN (FORMAT binary)";

/// Column types of [`COPY_DIRECT`], in order.
const COPY_DIRECT_TYPES: [Type; 6] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
];

/// The fast path's `hourly_shares` upsert: one row per (hour, user) of
/// the batch, summed here (rows in key order, so concurrent sinks cannot
/// deadlock).
const UPSERT_HOURLY: &str = r#"
INSERT INTO hourly_shares AS h (bucket, "user", shares, accepted, diff_sum, best_sdiff)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int8[], $4::int8[], $5::float8[], $6::float8[])
ORDER BY 1, 2
ON CONFLICT (bucket, "user") DO UPDATE SET
    shares = h.shares + EXCLUDED.shares,
    accepted = h.accepted + EXCLUDED.accepted,
    diff_sum = h.diff_sum + EXCLUDED.diff_sum,
    best_sdiff = greatest(h.best_sdiff, EXCLUDED.best_sdiff)
"#;

/// PostgreSQL's code for a broken unique key.
const UNIQUE_VIOLATION: &str = "23505";

/// Column types of [`COPY_BATCH`], in order.
const COPY_TYPES: [Type; 6] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TEXT,
];

/// Native layout: insert new events, add the new `share_submitted` ones to
/// `hourly_shares` (rows in key order, so concurrent sinks cannot
/// deadlock), return how many events were new.
const INSERT_NATIVE: &str = r#"
WITH ins AS (
    INSERT INTO mining_events (ts, event_type, pool, run, seq, payload)
    SELECT ts, event_type, pool, run, seq, payload::jsonb FROM tbg_batch
    ON CONFLICT DO NOTHING
    RETURNING ts, event_type, payload
), shares AS (
    INSERT INTO hourly_shares AS h (bucket, "user", shares, accepted, diff_sum, best_sdiff)
    SELECT date_trunc('hour', ts, 'UTC'), coalesce(payload->>'user', ''), count(*),
           count(*) FILTER (WHERE payload->>'accepted' = 'true'),
           coalesce(sum((payload->>'diff')::float8), 0),
           max((payload->>'sdiff')::float8)
    FROM ins WHERE event_type = 'share_submitted'
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (bucket, "user") DO UPDATE SET
        shares = h.shares + EXCLUDED.shares,
        accepted = h.accepted + EXCLUDED.accepted,
        diff_sum = h.diff_sum + EXCLUDED.diff_sum,
        best_sdiff = greatest(h.best_sdiff, EXCLUDED.best_sdiff)
)
SELECT count(*) FROM ins
"#;

/// TimescaleDB layout: `hourly_shares` is a continuous aggregate.
const INSERT_TIMESCALE: &str = r#"
WITH ins AS (
    INSERT INTO mining_events (ts, event_type, pool, run, seq, payload)
    SELECT ts, event_type, pool, run, seq, payload::jsonb FROM tbg_batch
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins
"#;

/// Event times are clamped to years 1 … 9999 (what `timestamptz` and the
/// partition names handle); the payload keeps the original `ts`.
const MIN_TS_US: i64 = -62_135_596_800_000_000;
const MAX_TS_US: i64 = 253_402_300_799_999_999;

/// Partition upkeep runs at most this often unless the UTC day changes.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);
/// Defaults for connection URLs that do not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// An open connection with its prepared statements.
struct Conn {
    client: Client,
    copy: Statement,
    insert: Statement,
    copy_direct: Statement,
    /// The fast path's hourly upsert (native layout only).
    upsert_hourly: Option<Statement>,
}

/// The PostgreSQL sink. Connects lazily ([`Sink::connect`]); after any
/// error the connection is dropped and the next call starts afresh.
pub struct PgSink {
    url: String,
    conn: Option<Conn>,
    layout: Option<Layout>,
    /// Days with their own partition, as last seen (native layout).
    partitions: BTreeSet<i64>,
    /// UTC day and time of the last partition upkeep.
    maintained: Option<(i64, Instant)>,
    last_inserted: u64,
    last_skipped: u64,
}

impl PgSink {
    /// A sink for a libpq-style connection string (`host=/run/postgresql
    /// user=tbg dbname=tbg`) or URL (`postgresql://user@host/db`).
    pub fn new(url: &str) -> PgSink {
        PgSink {
            url: url.to_string(),
            conn: None,
            layout: None,
            partitions: BTreeSet::new(),
            maintained: None,
            last_inserted: 0,
            last_skipped: 0,
        }
    }

    /// The layout found or created by the last successful connect.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Whether a connection is open (as far as the sink knows).
    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.client.is_closed())
    }

    /// Events of the last successful write that were new (the rest were
    /// already stored: a replay).
    pub fn last_inserted(&self) -> u64 {
        self.last_inserted
    }

    /// Events of the last write left out because their `seq` does not fit
    /// PostgreSQL's `bigint` (they could never be stored).
    pub fn last_skipped(&self) -> u64 {
        self.last_skipped
    }

    /// Retention: drop the day partitions (TimescaleDB: chunks) older than
    /// `keep_days` days, and such rows of the default partition. Returns
    /// how many partitions or chunks were dropped. Connects if needed.
    pub fn drop_old_partitions(&mut self, keep_days: u32) -> Result<usize, SinkError> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let layout = self.layout;
        let conn = self.conn.as_mut().ok_or_else(not_connected)?;
        let result = match layout {
            Some(Layout::Timescale) => migrations::drop_chunks(&mut conn.client, keep_days),
            _ => migrations::drop_partitions(&mut conn.client, keep_days),
        };
        match result {
            Ok(dropped) => {
                self.refresh_partitions();
                Ok(dropped)
            }
            // Refused by the server (a lock timeout, say): the connection
            // is still good.
            Err(e) if e.as_db_error().is_some() && !conn.client.is_closed() => {
                Err(pg_error("retention", &e))
            }
            Err(e) => Err(self.fail("retention", e)),
        }
    }

    /// Connection settings from the URL, with defaults for timeouts.
    fn config(&self) -> Result<Config, SinkError> {
        let mut config: Config = self
            .url
            .parse()
            .map_err(|e| SinkError(format!("postgres: bad connection string: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tbg-collector");
        }
        config.keepalives_idle(KEEPALIVE_IDLE);
        Ok(config)
    }

    /// Open a connection, migrate, prepare the batch statements.
    fn open(&mut self) -> Result<(), SinkError> {
        let config = self.config()?;
        let mut client = config.connect(NoTls).map_err(|e| pg_error("connect", &e))?;
        client
            .batch_execute(SESSION_SETUP)
            .map_err(|e| pg_error("session setup", &e))?;
        let started = std::time::Instant::now();
        crate::log_info!("postgres: connected; checking the schema (migrations wait on a lock if another collector holds it)");
        let layout = migrations::migrate(&mut client).map_err(|e| pg_error("migrations", &e))?;
        crate::log_info!(
            "postgres: schema ready ({layout:?} layout) in {} ms",
            started.elapsed().as_millis()
        );
        client
            .batch_execute(CREATE_BATCH_TABLE)
            .map_err(|e| pg_error("staging table", &e))?;
        let insert_sql = match layout {
            Layout::Native => INSERT_NATIVE,
            Layout::Timescale => INSERT_TIMESCALE,
        };
        let copy = client
            .prepare(COPY_BATCH)
            .map_err(|e| pg_error("prepare", &e))?;
        let insert = client
            .prepare(insert_sql)
            .map_err(|e| pg_error("prepare", &e))?;
        let copy_direct = client
            .prepare(COPY_DIRECT)
            .map_err(|e| pg_error("prepare", &e))?;
        let upsert_hourly = match layout {
            Layout::Native => Some(
                client
                    .prepare(UPSERT_HOURLY)
                    .map_err(|e| pg_error("prepare", &e))?,
            ),
            Layout::Timescale => None,
        };
        self.conn = Some(Conn {
            client,
            copy,
            insert,
            copy_direct,
            upsert_hourly,
        });
        self.layout = Some(layout);
        self.maintained = None;
        Ok(())
    }

    /// Partition upkeep when due: at connect, on a new UTC day, or when
    /// the batch has an event of a day in the ready window (today − 1 …
    /// today + 7) that has no partition (at most once a minute). Events of
    /// other days go to the default partition. Best effort: a refusal by
    /// the server (say a lock timeout) is logged and the events land in
    /// the default partition; a lost connection is an error.
    fn maintain_partitions(&mut self, batch: &[StoredEvent]) -> Result<(), SinkError> {
        if self.layout != Some(Layout::Native) {
            return Ok(());
        }
        let today = migrations::today();
        let window = today - 1..=today + DAYS_AHEAD;
        let due = match self.maintained {
            None => true,
            Some((day, _)) if day != today => true,
            Some((_, at)) => {
                at.elapsed() >= MAINTENANCE_INTERVAL
                    && batch.iter().any(|e| {
                        let day = migrations::day_of(clamp_ts(e.ts_us));
                        window.contains(&day) && !self.partitions.contains(&day)
                    })
            }
        };
        if !due {
            return Ok(());
        }
        let new_day = self.maintained.is_none_or(|(day, _)| day != today);
        self.maintained = Some((today, Instant::now()));
        self.ensure_partitions(today)?;
        if new_day {
            match self.drop_old_partitions(RETENTION_DAYS) {
                Err(e) if self.conn.is_none() => return Err(e),
                Err(e) => crate::log_warn!("postgres: retention: {e}"),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Create the missing partitions of today − 1 … today + 7.
    fn ensure_partitions(&mut self, today: i64) -> Result<(), SinkError> {
        let conn = self.conn.as_mut().ok_or_else(not_connected)?;
        let existing = match migrations::existing_partitions(&mut conn.client) {
            Ok(existing) => existing,
            Err(e) => return Err(self.fail("partitions", e)),
        };
        self.partitions = existing;
        for day in today - 1..=today + DAYS_AHEAD {
            if self.partitions.contains(&day) {
                continue;
            }
            let conn = self.conn.as_mut().ok_or_else(not_connected)?;
            match migrations::create_partition(&mut conn.client, day) {
                Ok(()) => {
                    self.partitions.insert(day);
                }
                Err(e) if e.as_db_error().is_some() && !conn.client.is_closed() => {
                    let name = migrations::partition_name(day);
                    crate::log_warn!("postgres: creating partition {name}: {e}");
                }
                Err(e) => return Err(self.fail("partitions", e)),
            }
        }
        Ok(())
    }

    /// Re-read the partition list (after retention); errors only log.
    fn refresh_partitions(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            match migrations::existing_partitions(&mut conn.client) {
                Ok(existing) => self.partitions = existing,
                Err(e) => crate::log_warn!("postgres: listing partitions: {e}"),
            }
        }
    }

    /// Drop the connection after an error and describe the error.
    fn fail(&mut self, context: &str, e: postgres::Error) -> SinkError {
        self.conn = None;
        pg_error(context, &e)
    }
}

impl Sink for PgSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    /// Connect (NoTls), apply the migrations, prepare partitions.
    fn connect(&mut self) -> Result<(), SinkError> {
        self.conn = None;
        if let Err(e) = self.open() {
            self.conn = None;
            return Err(e);
        }
        self.maintain_partitions(&[])
    }

    /// Store a batch in one transaction; idempotent on (pool, run, seq, ts).
    fn write(&mut self, batch: &[StoredEvent]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.conn.is_none() {
            self.connect()?;
        }
        self.maintain_partitions(batch)?;
        let conn = self.conn.as_mut().ok_or_else(not_connected)?;
        match insert_batch(conn, batch) {
            Ok((inserted, skipped)) => {
                self.last_inserted = inserted;
                self.last_skipped = skipped;
                Ok(())
            }
            Err(e) => Err(self.fail("write", e)),
        }
    }
}

/// Store a batch in one transaction (see the module docs). Returns (new
/// events, skipped events).
fn insert_batch(conn: &mut Conn, batch: &[StoredEvent]) -> Result<(u64, u64), postgres::Error> {
    let Conn {
        client,
        copy,
        insert,
        copy_direct: direct,
        upsert_hourly: hourly,
    } = conn;
    let mut tx = client.transaction()?;
    tx.batch_execute("SAVEPOINT fast")?;
    match copy_direct(&mut tx, direct, batch) {
        Ok(skipped) => {
            if let Some(upsert) = hourly {
                upsert_hourly(&mut tx, upsert, batch)?;
            }
            tx.commit()?;
            Ok((batch.len() as u64 - skipped, skipped))
        }
        Err(e) if e.code().is_some_and(|c| c.code() == UNIQUE_VIOLATION) => {
            // Some of it is stored already: the conflict-safe path.
            tx.batch_execute("ROLLBACK TO SAVEPOINT fast")?;
            let (inserted, skipped) = insert_staged(&mut tx, copy, insert, batch)?;
            tx.commit()?;
            Ok((inserted, skipped))
        }
        Err(e) => Err(e),
    }
}

/// The events whose `seq` fits `bigint` (the others can never be stored),
/// as COPY rows: (pool, run, seq, type, ts, payload).
fn copy_rows<'a>(
    batch: &'a [StoredEvent],
) -> impl Iterator<Item = (&'a StoredEvent, i64, std::time::SystemTime, Cow<'a, str>)> {
    batch.iter().filter_map(|event| {
        let seq = i64::try_from(event.seq).ok()?;
        let ts = migrations::system_time(clamp_ts(event.ts_us));
        Some((event, seq, ts, jsonb_safe(&event.payload)))
    })
}

/// The fast path: COPY straight into `mining_events`; returns how many
/// events were skipped.
fn copy_direct(
    tx: &mut postgres::Transaction<'_>,
    copy: &Statement,
    batch: &[StoredEvent],
) -> Result<u64, postgres::Error> {
    let mut writer = BinaryCopyInWriter::new(tx.copy_in(copy)?, &COPY_DIRECT_TYPES);
    let mut written = 0;
    for (event, seq, ts, payload) in copy_rows(batch) {
        let payload = JsonbText(&payload);
        let (pool, run): (&str, &str) = (&event.pool, &event.run);
        writer.write(&[&pool, &run, &seq, &event.kind.name(), &ts, &payload])?;
        written += 1;
    }
    writer.finish()?;
    Ok(batch.len() as u64 - written)
}

/// The safe path: COPY into the staging table, then insert what is new.
fn insert_staged(
    tx: &mut postgres::Transaction<'_>,
    copy: &Statement,
    insert: &Statement,
    batch: &[StoredEvent],
) -> Result<(u64, u64), postgres::Error> {
    let mut written = 0;
    {
        let mut writer = BinaryCopyInWriter::new(tx.copy_in(copy)?, &COPY_TYPES);
        for (event, seq, ts, payload) in copy_rows(batch) {
            let payload: &str = &payload;
            let (pool, run): (&str, &str) = (&event.pool, &event.run);
            writer.write(&[&pool, &run, &seq, &event.kind.name(), &ts, &payload])?;
            written += 1;
        }
        writer.finish()?;
    }
    let inserted: i64 = tx.query_one(insert, &[])?.try_get(0)?;
    Ok((
        u64::try_from(inserted).unwrap_or(0),
        batch.len() as u64 - written,
    ))
}

/// One (hour, user)'s share sums, as `hourly_shares` keeps them.
#[derive(Debug, Default, Clone, PartialEq)]
struct HourSums {
    shares: i64,
    accepted: i64,
    diff_sum: f64,
    best_sdiff: Option<f64>,
}

/// The batch's `share_submitted` sums per (UTC hour, user), in key order:
/// what the safe path's SQL computes from the inserted rows (`user` ''
/// when absent, `accepted` only when true, missing numbers count 0 / none).
fn hourly_sums(batch: &[StoredEvent]) -> BTreeMap<(i64, String), HourSums> {
    const HOUR_US: i64 = 3_600_000_000;
    let mut sums: BTreeMap<(i64, String), HourSums> = BTreeMap::new();
    let mut scratch = Vec::new();
    for event in batch.iter().filter(|e| e.kind == EventKind::ShareSubmitted) {
        if i64::try_from(event.seq).is_err() {
            continue; // not stored, so not counted
        }
        scratch.clear();
        scratch.extend_from_slice(event.payload.as_bytes());
        let Ok(tape) = simd_json::to_tape(&mut scratch) else {
            continue; // checked at the socket; cannot happen
        };
        let value = tape.as_value();
        let user = value.get_str("user").unwrap_or("").to_string();
        let hour = clamp_ts(event.ts_us).div_euclid(HOUR_US) * HOUR_US;
        let s = sums.entry((hour, user)).or_default();
        s.shares += 1;
        s.accepted += i64::from(value.get_bool("accepted") == Some(true));
        s.diff_sum += value.get("diff").and_then(|v| v.cast_f64()).unwrap_or(0.0);
        if let Some(sdiff) = value.get("sdiff").and_then(|v| v.cast_f64()) {
            s.best_sdiff = Some(s.best_sdiff.map_or(sdiff, |b| b.max(sdiff)));
        }
    }
    sums
}

fn upsert_hourly(
    tx: &mut postgres::Transaction<'_>,
    upsert: &Statement,
    batch: &[StoredEvent],
) -> Result<(), postgres::Error> {
    let sums = hourly_sums(batch);
    if sums.is_empty() {
        return Ok(());
    }
    let buckets: Vec<std::time::SystemTime> = sums
        .keys()
        .map(|(hour, _)| migrations::system_time(*hour))
        .collect();
    let users: Vec<&str> = sums.keys().map(|(_, u)| u.as_str()).collect();
    let shares: Vec<i64> = sums.values().map(|s| s.shares).collect();
    let accepted: Vec<i64> = sums.values().map(|s| s.accepted).collect();
    let diff_sums: Vec<f64> = sums.values().map(|s| s.diff_sum).collect();
    let best: Vec<Option<f64>> = sums.values().map(|s| s.best_sdiff).collect();
    tx.execute(
        upsert,
        &[&buckets, &users, &shares, &accepted, &diff_sums, &best],
    )?;
    Ok(())
}

/// Event JSON sent as `jsonb` in binary COPY: version 1, then the text.
#[derive(Debug)]
struct JsonbText<'a>(&'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// An event time PostgreSQL can store (see [`MIN_TS_US`]).
fn clamp_ts(ts_us: i64) -> i64 {
    ts_us.clamp(MIN_TS_US, MAX_TS_US)
}

/// `jsonb` refuses the escape `\u0000` (valid JSON, and what a NUL in a
/// miner's string becomes); it is replaced by `\ufffd`. Other text is
/// untouched.
fn jsonb_safe(payload: &str) -> Cow<'_, str> {
    const NUL: &[u8] = b"u0000";
    if !payload.contains("\\u0000") {
        return Cow::Borrowed(payload);
    }
    let bytes = payload.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes[i + 1..].starts_with(NUL) {
            out.extend_from_slice(b"\\ufffd");
            i += 1 + NUL.len();
        } else {
            // An escape pair (`\\`, `\"`, `\n`, …): copied as is, so an
            // escaped backslash before `u0000` is not mistaken for one.
            out.extend_from_slice(&bytes[i..(i + 2).min(bytes.len())]);
            i += 2;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// A PostgreSQL error as a sink error, with the server's message if any.
fn pg_error(context: &str, e: &postgres::Error) -> SinkError {
    match e.as_db_error() {
        Some(db) => SinkError(format!(
            "postgres {context}: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => SinkError(format!("postgres {context}: {e}")),
    }
}

fn not_connected() -> SinkError {
    SinkError("postgres: not connected".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_replaced_for_jsonb() {
        assert!(matches!(jsonb_safe(r#"{"a":"b"}"#), Cow::Borrowed(_)));
        assert_eq!(jsonb_safe(r#"{"w":"x\u0000y"}"#), r#"{"w":"x\ufffdy"}"#);
        assert_eq!(jsonb_safe(r#"{"w":"x\\u0000y"}"#), r#"{"w":"x\\u0000y"}"#);
        assert_eq!(jsonb_safe(r#"{"w":"é\\\u0000"}"#), r#"{"w":"é\\\ufffd"}"#);
    }

    #[test]
    fn times_are_clamped_to_what_postgres_stores() {
        assert_eq!(clamp_ts(i64::MAX), MAX_TS_US);
        assert_eq!(clamp_ts(i64::MIN), MIN_TS_US);
        assert_eq!(clamp_ts(1_771_502_400_500_000), 1_771_502_400_500_000);
    }
}

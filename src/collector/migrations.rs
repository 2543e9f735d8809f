//! Schema of the PostgreSQL sink, applied on every connect (idempotent),
//! and the daily partitions of `mining_events`.
//!
//! Two layouts. With TimescaleDB on the server (created in the database,
//! or installed, preloaded and creatable by this role): a hypertable of
//! 1-day chunks (compressed after 7 days, dropped after 365) and a
//! continuous aggregate `hourly_shares`. Without it (Debian's stock
//! PostgreSQL): native declarative partitioning by day, a DEFAULT partition
//! so no insert ever fails, and a plain `hourly_shares` table the sink keeps
//! current itself; a TimescaleDB that cannot be used is a WARN naming the
//! fix, never an error. The unique key is (`pool`, `run`, `seq`, `ts`): an
//! event is named by (`pool`, `run`, `seq`) and a partition key must be
//! part of the key. A table made before runs existed gets the `run`
//! column (`''` for its rows) and the new key on the next connect.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, Error};

use crate::time::{civil_from_days, days_from_civil};

/// How `mining_events` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Native declarative partitioning by day (`mining_events_YYYYMMDD`).
    Native,
    /// A TimescaleDB hypertable with 1-day chunks.
    Timescale,
}

/// Days of events kept (partitions / chunks older than this are dropped).
pub const RETENTION_DAYS: u32 = 365;
/// Partitions are kept ready for today − 1 … today + `DAYS_AHEAD`.
pub const DAYS_AHEAD: i64 = 7;
/// The default partition: events of days without a partition of their own.
pub const DEFAULT_PARTITION: &str = "mining_events_default";

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Serialises migrations of collectors starting at the same time.
const MIGRATION_LOCK_KEY: i64 = 0x7462_675f_6576_7473; // "tbg_evts"

const LOCK: &str = "SELECT pg_advisory_lock($1)";
const UNLOCK: &str = "SELECT pg_advisory_unlock($1)";

/// A table from before runs gets the column (its rows: run `''`).
const ADD_RUN_COLUMN: &str =
    "ALTER TABLE mining_events ADD COLUMN IF NOT EXISTS run text NOT NULL DEFAULT ''";

/// The name of `mining_events`' primary key when `run` is not part of it.
const PRIMARY_KEY_WITHOUT_RUN: &str = "SELECT c.conname::text FROM pg_constraint c \
     WHERE c.conrelid = 'mining_events'::regclass AND c.contype = 'p' \
     AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid \
         AND a.attnum = ANY (c.conkey) AND a.attname = 'run')";

/// What kind of relation `mining_events` is, if it exists.
const EXISTING_KIND: &str =
    "SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass('mining_events')";

const TIMESCALE_AVAILABLE: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')";
const TIMESCALE_CREATED: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')";
/// TimescaleDB's `CREATE EXTENSION` on a server that did not preload it
/// is a FATAL error that closes the connection: asked first. Through
/// `pg_settings`, which hides the setting (no row) from a role that may
/// not read it, where `current_setting` is an error.
const TIMESCALE_PRELOADED: &str = "SELECT setting ~* '(^|[\\s,])\"?timescaledb\"?($|[\\s,])' \
     FROM pg_settings WHERE name = 'shared_preload_libraries'";
/// What to add to postgresql.conf for the TimescaleDB layout.
pub const TIMESCALE_FIX: &str =
    "add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL";

/// Native layout: partitioned table, default partition, indexes, and the
/// sink-maintained hourly aggregate. One implicit transaction.
const NATIVE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mining_events (
    ts          timestamptz NOT NULL,
    event_type  text        NOT NULL,
    pool        text        NOT NULL,
    seq         bigint      NOT NULL,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    run         text        NOT NULL DEFAULT '',
    PRIMARY KEY (pool, run, seq, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS mining_events_default PARTITION OF mining_events DEFAULT;
CREATE INDEX IF NOT EXISTS mining_events_type_ts_idx ON mining_events (event_type, ts DESC);
CREATE INDEX IF NOT EXISTS mining_events_user_ts_idx
    ON mining_events ((payload->>'user'), ts DESC);
CREATE TABLE IF NOT EXISTS hourly_shares (
    bucket     timestamptz      NOT NULL,
    "user"     text             NOT NULL,
    shares     bigint           NOT NULL DEFAULT 0,
    accepted   bigint           NOT NULL DEFAULT 0,
    diff_sum   double precision NOT NULL DEFAULT 0,
    best_sdiff double precision,
    PRIMARY KEY (bucket, "user")
);
"#;

/// TimescaleDB layout, one statement each: continuous aggregates cannot be
/// created inside a transaction block.
const TIMESCALE_SCHEMA: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS mining_events (
        ts          timestamptz NOT NULL,
        event_type  text        NOT NULL,
        pool        text        NOT NULL,
        seq         bigint      NOT NULL,
        payload     jsonb       NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        run         text        NOT NULL DEFAULT '',
        PRIMARY KEY (pool, run, seq, ts))"#,
    "SELECT create_hypertable('mining_events', 'ts', \
        chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE)",
    "CREATE INDEX IF NOT EXISTS mining_events_type_ts_idx ON mining_events (event_type, ts DESC)",
    "CREATE INDEX IF NOT EXISTS mining_events_user_ts_idx \
        ON mining_events ((payload->>'user'), ts DESC)",
    "SELECT add_retention_policy('mining_events', INTERVAL '365 days', if_not_exists => TRUE)",
    r#"CREATE MATERIALIZED VIEW IF NOT EXISTS hourly_shares
        WITH (timescaledb.continuous) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket,
               payload->>'user' AS "user",
               count(*) AS shares,
               count(*) FILTER (WHERE payload->>'accepted' = 'true') AS accepted,
               coalesce(sum((payload->>'diff')::float8), 0) AS diff_sum,
               max((payload->>'sdiff')::float8) AS best_sdiff
        FROM mining_events
        WHERE event_type = 'share_submitted'
        GROUP BY 1, 2
        WITH NO DATA"#,
    "SELECT add_continuous_aggregate_policy('hourly_shares', \
        start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', \
        schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)",
];

/// Whether compression is already configured (changing it is refused once
/// chunks are compressed, so it is set once).
const TIMESCALE_COMPRESSED: &str = "SELECT coalesce(bool_or(compression_enabled), false) \
     FROM timescaledb_information.hypertables WHERE hypertable_name = 'mining_events'";

const TIMESCALE_COMPRESSION: &[&str] = &[
    "ALTER TABLE mining_events SET (timescaledb.compress, \
        timescaledb.compress_segmentby = 'pool, event_type', \
        timescaledb.compress_orderby = 'ts DESC, seq DESC')",
    "SELECT add_compression_policy('mining_events', INTERVAL '7 days', if_not_exists => TRUE)",
];

/// The partitions of `mining_events` (native layout).
const LIST_PARTITIONS: &str = "SELECT c.relname::text FROM pg_inherits i \
     JOIN pg_class c ON c.oid = i.inhrelid \
     WHERE i.inhparent = 'mining_events'::regclass";

/// Partition DDL must not queue behind a long query for ever.
const DDL_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

const DEFAULT_HAS_ROWS: &str =
    "SELECT EXISTS (SELECT 1 FROM mining_events_default WHERE ts >= $1 AND ts < $2)";

const DELETE_OLD_DEFAULT_ROWS: &str = "DELETE FROM mining_events_default WHERE ts < $1";

const DROP_OLD_CHUNKS: &str = "SELECT count(*) FROM drop_chunks('mining_events', \
     older_than => now() - make_interval(days => $1))";

/// Apply the schema (idempotent) and say which layout is in use.
pub fn migrate(client: &mut Client) -> Result<Layout, Error> {
    client.execute(LOCK, &[&MIGRATION_LOCK_KEY])?;
    let result = migrate_locked(client);
    // On error the connection is dropped by the caller, which frees the lock.
    client.execute(UNLOCK, &[&MIGRATION_LOCK_KEY])?;
    result
}

fn migrate_locked(client: &mut Client) -> Result<Layout, Error> {
    let existing: Option<String> = match client.query_opt(EXISTING_KIND, &[])? {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    let layout = match existing.as_deref() {
        Some("p") => Layout::Native,
        Some(_) => Layout::Timescale,
        None => choose_layout(client)?,
    };
    match layout {
        Layout::Native => client.batch_execute(NATIVE_SCHEMA)?,
        Layout::Timescale => migrate_timescale(client)?,
    }
    add_run_to_key(client)?;
    Ok(layout)
}

/// Tables made before runs: the `run` column, then the key with it. The
/// column is cheap (a default, no rewrite); the new key is built once.
/// Where the server refuses the key change (TimescaleDB with compressed
/// chunks), the old key (`pool`, `seq`, `ts`) stays, with a WARN: events
/// are still stored once, and only two runs' events of the same pool,
/// seq and microsecond would collide.
fn add_run_to_key(client: &mut Client) -> Result<(), Error> {
    client.batch_execute(ADD_RUN_COLUMN)?;
    let Some(row) = client.query_opt(PRIMARY_KEY_WITHOUT_RUN, &[])? else {
        return Ok(());
    };
    let constraint: String = row.try_get(0)?;
    debug_assert!(constraint
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let rekey = format!(
        "ALTER TABLE mining_events DROP CONSTRAINT \"{constraint}\", \
         ADD PRIMARY KEY (pool, run, seq, ts)"
    );
    match client.batch_execute(&rekey) {
        Ok(()) => {
            crate::log_info!("postgres: mining_events keyed by (pool, run, seq, ts) now");
            Ok(())
        }
        Err(e) if !client.is_closed() => {
            crate::log_warn!(
                "postgres: cannot add run to the key of mining_events ({}); keeping \
                 (pool, seq, ts)",
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The layout of a new database: TimescaleDB when it is created or can
/// be, else native, with one WARN naming the fix. Never an error that
/// would make the sink retry forever (as it did on a server with the
/// extension installed but not preloaded).
fn choose_layout(client: &mut Client) -> Result<Layout, Error> {
    let yes = |client: &mut Client, sql: &str| -> Result<bool, Error> {
        client.query_one(sql, &[])?.try_get(0)
    };
    if yes(client, TIMESCALE_CREATED)? {
        return Ok(Layout::Timescale);
    }
    if !yes(client, TIMESCALE_AVAILABLE)? {
        return Ok(Layout::Native);
    }
    let preloaded: Option<bool> = match client.query_opt(TIMESCALE_PRELOADED, &[])? {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    match preloaded {
        Some(true) => {}
        Some(false) => {
            crate::log_warn!(
                "postgres: TimescaleDB is installed but not preloaded; using native \
                 partitioning (for the TimescaleDB layout, {TIMESCALE_FIX}, and start from \
                 an empty database)"
            );
            return Ok(Layout::Native);
        }
        None => {
            crate::log_warn!(
                "postgres: TimescaleDB is installed, but this role cannot see whether it is \
                 preloaded; using native partitioning (for the TimescaleDB layout, a superuser \
                 runs CREATE EXTENSION timescaledb in this database once it is preloaded)"
            );
            return Ok(Layout::Native);
        }
    }
    match create_extension(client, "timescaledb") {
        Ok(()) => Ok(Layout::Timescale),
        Err(e) if !client.is_closed() => {
            crate::log_warn!(
                "postgres: CREATE EXTENSION timescaledb: {}; using native partitioning \
                 (a superuser can run it once in this database)",
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            );
            Ok(Layout::Native)
        }
        Err(e) => Err(e),
    }
}

/// `CREATE EXTENSION IF NOT EXISTS <name>` (a name of this crate's, never
/// user input).
pub fn create_extension(client: &mut Client, name: &str) -> Result<(), Error> {
    debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    client.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {name}"))
}

fn migrate_timescale(client: &mut Client) -> Result<(), Error> {
    for statement in TIMESCALE_SCHEMA {
        client.batch_execute(statement)?;
    }
    let compressed: bool = client.query_one(TIMESCALE_COMPRESSED, &[])?.try_get(0)?;
    if !compressed {
        for statement in TIMESCALE_COMPRESSION {
            client.batch_execute(statement)?;
        }
    }
    Ok(())
}

/// The UTC day (days since 1970-01-01) of a unix-microsecond time.
pub fn day_of(ts_us: i64) -> i64 {
    ts_us.div_euclid(MICROS_PER_DAY)
}

/// Today's UTC day.
pub fn today() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    day_of(now)
}

/// A unix-microsecond time as a `SystemTime` (for `timestamptz`).
pub fn system_time(ts_us: i64) -> SystemTime {
    let magnitude = Duration::from_micros(ts_us.unsigned_abs());
    if ts_us >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Midnight UTC starting `day`.
fn day_start(day: i64) -> SystemTime {
    system_time(day * MICROS_PER_DAY)
}

/// `mining_events_YYYYMMDD`.
pub fn partition_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("mining_events_{y:04}{m:02}{d:02}")
}

/// The day a partition name stands for (`None` for the default one and
/// anything not made by [`partition_name`]).
pub fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("mining_events_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = digits[..4].parse().ok()?;
    let m: i64 = digits[4..6].parse().ok()?;
    let d: i64 = digits[6..].parse().ok()?;
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

/// `FROM ('…') TO ('…')` bounds of a day's partition, in UTC.
fn partition_bounds(day: i64) -> String {
    let bound = |day: i64| {
        let (y, m, d) = civil_from_days(day);
        format!("'{y:04}-{m:02}-{d:02} 00:00:00+00'")
    };
    format!("FROM ({}) TO ({})", bound(day), bound(day + 1))
}

/// Days that have a partition of their own.
pub fn existing_partitions(client: &mut Client) -> Result<BTreeSet<i64>, Error> {
    let mut days = BTreeSet::new();
    for row in client.query(LIST_PARTITIONS, &[])? {
        let name: String = row.try_get(0)?;
        days.extend(partition_day(&name));
    }
    Ok(days)
}

/// Create the partition of `day`. Rows of that day already in the default
/// partition (it takes events of days without a partition) are moved into
/// it, as PostgreSQL refuses a new partition that the default overlaps.
pub fn create_partition(client: &mut Client, day: i64) -> Result<(), Error> {
    let (name, bounds) = (partition_name(day), partition_bounds(day));
    let (from, to) = (day_start(day), day_start(day + 1));
    let mut tx = client.transaction()?;
    tx.batch_execute(DDL_LOCK_TIMEOUT)?;
    let overlap: bool = tx.query_one(DEFAULT_HAS_ROWS, &[&from, &to])?.try_get(0)?;
    if !overlap {
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF mining_events FOR VALUES {bounds}"
        ))?;
        return tx.commit();
    }
    tx.batch_execute(&format!(
        "CREATE TABLE {name} (LIKE mining_events INCLUDING DEFAULTS)"
    ))?;
    tx.execute(
        &format!(
            "WITH moved AS (DELETE FROM mining_events_default WHERE ts >= $1 AND ts < $2 \
             RETURNING ts, event_type, pool, seq, payload, received_at, run) \
             INSERT INTO {name} (ts, event_type, pool, seq, payload, received_at, run) \
             SELECT * FROM moved"
        ),
        &[&from, &to],
    )?;
    tx.batch_execute(&format!(
        "ALTER TABLE mining_events ATTACH PARTITION {name} FOR VALUES {bounds}"
    ))?;
    tx.commit()
}

/// Drop the day partitions older than `keep_days` and delete such rows
/// from the default partition. Returns the number of partitions dropped.
pub fn drop_partitions(client: &mut Client, keep_days: u32) -> Result<usize, Error> {
    let cutoff = today() - i64::from(keep_days);
    let old: Vec<i64> = existing_partitions(client)?
        .into_iter()
        .filter(|&day| day < cutoff)
        .collect();
    let mut tx = client.transaction()?;
    tx.batch_execute(DDL_LOCK_TIMEOUT)?;
    for &day in &old {
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", partition_name(day)))?;
    }
    tx.execute(DELETE_OLD_DEFAULT_ROWS, &[&day_start(cutoff)])?;
    tx.commit()?;
    Ok(old.len())
}

/// Drop TimescaleDB chunks older than `keep_days`; returns how many.
pub fn drop_chunks(client: &mut Client, keep_days: u32) -> Result<usize, Error> {
    let days = i32::try_from(keep_days).unwrap_or(i32::MAX);
    let dropped: i64 = client.query_one(DROP_OLD_CHUNKS, &[&days])?.try_get(0)?;
    Ok(usize::try_from(dropped).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_names_round_trip() {
        assert_eq!(partition_name(0), "mining_events_19700101");
        assert_eq!(partition_name(-1), "mining_events_19691231");
        assert_eq!(partition_name(-719_162), "mining_events_00010101");
        assert_eq!(partition_name(20_503), "mining_events_20260219");
        for day in [-719_162, -1, 0, 59, 11_016, 20_503, 2_932_896] {
            assert_eq!(partition_day(&partition_name(day)), Some(day));
        }
        assert_eq!(partition_day(DEFAULT_PARTITION), None);
        assert_eq!(partition_day("mining_events_20260230"), None);
        assert_eq!(day_of(-1), -1);
        assert_eq!(
            partition_bounds(0),
            "FROM ('1970-01-01 00:00:00+00') TO ('1970-01-02 00:00:00+00')"
        );
    }
}

//! The PostgreSQL sink against a real, throwaway PostgreSQL server.

#[path = "common/pg.rs"]
mod pg;

use pg::PgServer;
use tbg_pool::collector::migrations::{self, Layout};
use tbg_pool::collector::postgres::PgSink;
use tbg_pool::collector::{Sink, StoredEvent};
use tbg_pool::events::EventKind;

const DAY_US: i64 = 86_400_000_000;
const USER: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

fn now_us() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_micros() as i64)
}

/// Midnight UTC today plus `hours` (so a batch stays in one day).
fn today_at(hours: i64) -> i64 {
    now_us().div_euclid(DAY_US) * DAY_US + hours * 3_600_000_000
}

/// The run of the tests' pool process.
const RUN: &str = "00000000000000a1";

/// An event of run [`RUN`] with the envelope plus `fields` (JSON members,
/// no braces).
fn event(pool: &str, seq: u64, kind: EventKind, ts_us: i64, fields: &str) -> StoredEvent {
    event_of(pool, RUN, seq, kind, ts_us, fields)
}

fn event_of(
    pool: &str,
    run: &str,
    seq: u64,
    kind: EventKind,
    ts_us: i64,
    fields: &str,
) -> StoredEvent {
    let ts = ts_us as f64 / 1e6;
    let name = kind.name();
    StoredEvent {
        pool: pool.into(),
        run: run.into(),
        seq,
        kind,
        ts_us,
        payload: format!(
            r#"{{"event":"{name}","ts":{ts},"seq":{seq},"pool":"{pool}","run":"{run}",{fields},"collector":"test"}}"#
        )
        .into(),
    }
}

fn share(
    pool: &str,
    seq: u64,
    ts_us: i64,
    user: &str,
    diff: f64,
    sdiff: f64,
    ok: bool,
) -> StoredEvent {
    let reason = if ok { r#""""# } else { r#""low-diff""# };
    let fields = format!(
        r#""user":"{user}","worker":"{user}.rig","client_id":1,"diff":{diff},"sdiff":{sdiff},"accepted":{ok},"reject_reason":{reason},"ip":"192.0.2.1""#
    );
    event(pool, seq, EventKind::ShareSubmitted, ts_us, &fields)
}

/// One of each kind of event, one hour into today, seq 1 … 6.
fn mixed_batch(pool: &str) -> Vec<StoredEvent> {
    let t = today_at(1);
    let w = format!(r#""user":"{USER}","worker":"{USER}.bitaxe""#);
    vec![
        event(
            pool,
            1,
            EventKind::MinerConnected,
            t,
            &format!(
                r#"{w},"client_id":17,"ip":"192.0.2.10","useragent":"bitaxe","initial_diff":1000"#
            ),
        ),
        share(pool, 2, t + 1, USER, 1024.0, 4711.5, true),
        share(pool, 3, t + 2, USER, 2048.0, 10.0, false),
        share(pool, 4, t + 3, "bc1qother", 512.0, 600.0, true),
        event(
            pool,
            5,
            EventKind::DiffUpdated,
            t + 4,
            &format!(r#"{w},"client_id":17,"old_diff":1000,"new_diff":4096"#),
        ),
        event(
            pool,
            6,
            EventKind::NewBlockNetwork,
            t + 5,
            r#""height":940002,"hash":"00","diff":1.5e14,"prev_hash":"00""#,
        ),
    ]
}

fn connected(server: &PgServer) -> PgSink {
    let mut sink = PgSink::new(&server.url());
    sink.connect().expect("connect and migrate");
    sink
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    let row = client.query_one(sql, &[]).expect("count query");
    row.get(0)
}

/// `hourly_shares` as text, for before/after comparisons.
fn hourly(client: &mut postgres::Client) -> Vec<String> {
    let sql = r#"SELECT format('%s %s %s %s %s %s', bucket, "user", shares, accepted, diff_sum, best_sdiff)
                 FROM hourly_shares ORDER BY bucket, "user""#;
    let rows = client.query(sql, &[]).expect("read hourly_shares");
    rows.iter().map(|r| r.get(0)).collect()
}

#[test]
fn migrations_are_idempotent() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    assert_eq!(sink.name(), "postgres");
    assert_eq!(sink.layout(), Some(Layout::Native));
    sink.connect().expect("second connect");
    PgSink::new(&server.url()).connect().expect("another sink");

    let mut client = server.client();
    let today = migrations::today();
    for day in today - 1..=today + 7 {
        let name = migrations::partition_name(day);
        let sql = format!("SELECT count(*) FROM pg_class WHERE relname = '{name}'");
        assert_eq!(count(&mut client, &sql), 1, "partition {name}");
    }
    let partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'mining_events'::regclass";
    assert_eq!(count(&mut client, partitions), 10, "9 days + default");
    let indexes = "SELECT count(*) FROM pg_indexes WHERE tablename = 'mining_events'";
    assert_eq!(
        count(&mut client, indexes),
        3,
        "primary key, (event_type, ts), (user, ts)"
    );
}

#[test]
fn a_mixed_batch_is_stored_once_with_queryable_payload() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let batch = mixed_batch("tbg");
    sink.write(&batch).expect("write");
    assert_eq!(sink.last_inserted(), 6);

    let mut client = server.client();
    assert_eq!(count(&mut client, "SELECT count(*) FROM mining_events"), 6);
    let user_rows = format!("SELECT count(*) FROM mining_events WHERE payload->>'user' = '{USER}'");
    assert_eq!(count(&mut client, &user_rows), 4);
    for e in &batch {
        let row = client
            .query_one(
                "SELECT event_type, (extract(epoch FROM ts) * 1000000)::bigint, \
                 payload->>'collector', tableoid::regclass::text \
                 FROM mining_events WHERE pool = $1 AND seq = $2",
                &[&&*e.pool, &(e.seq as i64)],
            )
            .expect("stored event");
        assert_eq!(row.get::<_, String>(0), e.kind.name());
        assert_eq!(row.get::<_, i64>(1), e.ts_us, "microseconds kept");
        assert_eq!(row.get::<_, String>(2), "test");
        assert_eq!(
            row.get::<_, String>(3),
            migrations::partition_name(e.ts_us.div_euclid(DAY_US))
        );
    }
    let mine = client
        .query_one(
            r#"SELECT shares, accepted, diff_sum, best_sdiff FROM hourly_shares WHERE "user" = $1"#,
            &[&USER],
        )
        .expect("hourly row");
    assert_eq!(mine.get::<_, i64>(0), 2);
    assert_eq!(mine.get::<_, i64>(1), 1);
    assert_eq!(mine.get::<_, f64>(2), 3072.0);
    assert_eq!(mine.get::<_, f64>(3), 4711.5);
    assert_eq!(hourly(&mut client).len(), 2);
}

#[test]
fn a_replayed_batch_stores_and_counts_nothing_twice() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let batch = mixed_batch("tbg");
    sink.write(&batch[..4]).expect("first part");
    let mut client = server.client();
    let before = hourly(&mut client);

    // The whole batch: its first four events are a replay.
    sink.write(&batch).expect("overlapping batch");
    assert_eq!(sink.last_inserted(), 2);
    assert_eq!(hourly(&mut client), before, "no new shares in the last two");

    let after_all = hourly(&mut client);
    for round in 0..2 {
        sink.write(&batch).expect("replay");
        assert_eq!(sink.last_inserted(), 0, "round {round}");
    }
    assert_eq!(count(&mut client, "SELECT count(*) FROM mining_events"), 6);
    assert_eq!(hourly(&mut client), after_all);

    // A batch holding the same event twice stores it once.
    let twice = vec![
        batch[1].clone(),
        batch[1].clone(),
        share("tbg", 7, today_at(1), USER, 1.0, 1.0, true),
    ];
    sink.write(&twice).expect("duplicates within a batch");
    assert_eq!(sink.last_inserted(), 1);
}

/// `hourly_shares` is what the stored events say, whichever path wrote
/// them: the fast one (COPY straight in, sums computed by the sink) for
/// new batches, the safe one (staging table, sums in SQL) for a batch
/// with a replayed event. Shares of two users, two hours, rejected ones,
/// one with no `sdiff`.
#[test]
fn both_write_paths_keep_hourly_shares_equal_to_the_stored_events() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let other = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    let (h1, h2) = (today_at(1), today_at(2));
    let fresh = vec![
        share("tbg", 1, h1, USER, 1.0, 2.0, true),
        share("tbg", 2, h1 + 1, other, 2.0, 0.5, false),
        share("tbg", 3, h2, USER, 4.0, 9.0, true),
    ];
    sink.write(&fresh).expect("fast path");
    assert_eq!(sink.last_inserted(), 3);
    let no_sdiff = event(
        "tbg",
        5,
        EventKind::ShareSubmitted,
        h2 + 5,
        &format!(
            r#""user":"{other}","worker":"w","client_id":1,"diff":3,"accepted":true,"reject_reason":"","ip":"i""#
        ),
    );
    let mut replay = vec![
        fresh[2].clone(),
        share("tbg", 4, h2 + 1, USER, 8.0, 1.0, true),
    ];
    replay.push(no_sdiff);
    sink.write(&replay).expect("safe path");
    assert_eq!(sink.last_inserted(), 2);
    sink.write(&[share("tbg", 6, h1 + 9, other, 1.5, 3.0, true)])
        .expect("fast path again");
    let mut client = server.client();
    let from_events = r#"SELECT format('%s %s %s %s %s %s', b, u, n, a, d, m) FROM (
            SELECT date_trunc('hour', ts, 'UTC') b, coalesce(payload->>'user', '') u, count(*) n,
                count(*) FILTER (WHERE payload->>'accepted' = 'true') a,
                coalesce(sum((payload->>'diff')::float8), 0) d, max((payload->>'sdiff')::float8) m
            FROM mining_events WHERE event_type = 'share_submitted' GROUP BY 1, 2) x
        ORDER BY b, u"#;
    let expected: Vec<String> = client
        .query(from_events, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(hourly(&mut client), expected);
}

#[test]
fn two_pools_with_the_same_seq_are_both_stored() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let t = today_at(2);
    let batch = vec![
        share("eu", 42, t, USER, 1.0, 2.0, true),
        share("us", 42, t, USER, 1.0, 3.0, true),
    ];
    sink.write(&batch).expect("write");
    assert_eq!(sink.last_inserted(), 2);
    let mut client = server.client();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM mining_events WHERE seq = 42"
        ),
        2
    );
    let shares = count(&mut client, "SELECT sum(shares)::bigint FROM hourly_shares");
    assert_eq!(shares, 2);
}

/// Two pools left at the same `pool_name` send the same seq in the same
/// microsecond: two runs, two events (the key was (pool, seq, ts)).
#[test]
fn two_runs_with_the_same_pool_seq_and_ts_are_both_stored() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let t = today_at(2);
    let weekly = r#""user":"u","week":1,"best_diff_week":1,"total_shares_week":1"#;
    let batch = vec![
        event_of("tbg", RUN, 7, EventKind::WeeklySummary, t, weekly),
        event_of(
            "tbg",
            "00000000000000b2",
            7,
            EventKind::WeeklySummary,
            t,
            weekly,
        ),
    ];
    sink.write(&batch).expect("write");
    sink.write(&batch).expect("replay");
    let mut client = server.client();
    let runs = "SELECT count(DISTINCT run) FROM mining_events WHERE seq = 7 AND pool = 'tbg'";
    assert_eq!(count(&mut client, runs), 2);
    assert_eq!(count(&mut client, "SELECT count(*) FROM mining_events"), 2);
}

/// A table made before runs (key (pool, seq, ts), no `run` column) gets
/// the column and the new key on connect, its rows kept with run `''`.
#[test]
fn a_table_from_before_runs_is_upgraded_in_place() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut client = server.client();
    client
        .batch_execute(
            "CREATE TABLE mining_events (ts timestamptz NOT NULL, event_type text NOT NULL, \
             pool text NOT NULL, seq bigint NOT NULL, payload jsonb NOT NULL, \
             received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pool, seq, ts)) \
             PARTITION BY RANGE (ts); \
             CREATE TABLE mining_events_default PARTITION OF mining_events DEFAULT; \
             INSERT INTO mining_events (ts, event_type, pool, seq, payload) \
             VALUES (now(), 'weekly_summary', 'tbg', 7, '{}')",
        )
        .unwrap();
    let mut sink = connected(&server);
    let key = "SELECT string_agg(a.attname, ',' ORDER BY array_position(c.conkey, a.attnum)) \
               FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid \
               AND a.attnum = ANY (c.conkey) \
               WHERE c.conrelid = 'mining_events'::regclass AND c.contype = 'p'";
    let key: String = client.query_one(key, &[]).unwrap().get(0);
    assert_eq!(key, "pool,run,seq,ts");
    let old = "SELECT count(*) FROM mining_events WHERE run = '' AND seq = 7";
    assert_eq!(count(&mut client, old), 1);
    sink.write(&mixed_batch("tbg"))
        .expect("write after the upgrade");
    let partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'mining_events'::regclass";
    assert!(count(&mut client, partitions) > 1, "day partitions created");
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM mining_events WHERE run <> ''"
        ),
        6
    );
    sink.connect()
        .expect("a second connect leaves the key alone");
}

#[test]
fn events_far_in_the_past_or_future_land_in_the_default_partition() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let t = now_us();
    let batch = vec![
        share("tbg", 1, t - 40 * 365 * DAY_US, USER, 1.0, 1.0, true),
        share("tbg", 2, t + 100 * 365 * DAY_US, USER, 1.0, 1.0, true),
        share("tbg", 3, t + 30 * DAY_US, USER, 1.0, 1.0, true),
        // Beyond what timestamptz holds: stored at the clamp, payload intact.
        share("tbg", 4, i64::MAX, USER, 1.0, 1.0, true),
        share("tbg", 5, i64::MIN, USER, 1.0, 1.0, true),
        share("tbg", 6, t, USER, 1.0, 1.0, true),
    ];
    sink.write(&batch).expect("write");
    assert_eq!(sink.last_inserted(), 6);
    let mut client = server.client();
    assert_eq!(count(&mut client, "SELECT count(*) FROM mining_events"), 6);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM mining_events_default"),
        5
    );
    sink.write(&batch).expect("replay");
    assert_eq!(sink.last_inserted(), 0);
}

#[test]
fn drop_old_partitions_keeps_the_last_days() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let now = now_us();
    let old = |days: i64| now - days * DAY_US;
    let batch = vec![
        share("tbg", 1, old(500), USER, 1.0, 1.0, true),
        share("tbg", 2, old(400), USER, 1.0, 1.0, true),
        share("tbg", 3, old(10), USER, 1.0, 1.0, true),
        share("tbg", 4, now, USER, 1.0, 1.0, true),
    ];
    sink.write(&batch).expect("write");
    let mut client = server.client();
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM mining_events_default"),
        3
    );

    // Partitions made for days whose events are in the default partition
    // take those events over.
    for days in [400, 10] {
        let day = migrations::day_of(old(days));
        migrations::create_partition(&mut client, day).expect("create partition");
        let name = migrations::partition_name(day);
        assert_eq!(
            count(&mut client, &format!("SELECT count(*) FROM {name}")),
            1
        );
    }
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM mining_events_default"),
        1
    );

    assert_eq!(sink.drop_old_partitions(365).expect("retention"), 1);
    let gone = migrations::partition_name(migrations::day_of(old(400)));
    assert_eq!(
        count(
            &mut client,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{gone}'")
        ),
        0
    );
    let seqs: Vec<i64> = client
        .query("SELECT seq FROM mining_events ORDER BY seq", &[])
        .expect("remaining events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seqs, [3, 4], "the 500- and 400-day-old events are gone");
    assert_eq!(sink.drop_old_partitions(365).expect("again"), 0);
    sink.write(&batch[3..]).expect("still writable");
}

#[test]
fn a_write_fails_while_the_server_is_down_and_works_after_a_restart() {
    let Some(mut server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let batch = mixed_batch("tbg");
    sink.write(&batch[..2]).expect("write while up");

    server.stop();
    let err = sink.write(&batch).expect_err("server is down");
    assert!(err.0.starts_with("postgres"), "{err}");
    assert!(!sink.is_connected(), "the failed client is dropped");
    assert!(sink.connect().is_err(), "cannot connect while down");

    server.start_again();
    sink.connect().expect("reconnect");
    sink.write(&batch).expect("the retried batch");
    assert_eq!(sink.last_inserted(), 4, "the first two were stored before");
    let mut client = server.client();
    assert_eq!(count(&mut client, "SELECT count(*) FROM mining_events"), 6);
}

#[test]
fn a_nul_escape_in_a_miner_string_is_stored() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut sink = connected(&server);
    let mut e = share("tbg", 1, now_us(), USER, 1.0, 1.0, true);
    e.payload = e.payload.replace(".rig", r".rig\u0000x").into();
    sink.write(&[e]).expect("write");
    let mut client = server.client();
    let worker: String = client
        .query_one("SELECT payload->>'worker' FROM mining_events", &[])
        .expect("stored")
        .get(0);
    assert_eq!(worker, format!("{USER}.rig\u{fffd}x"));
}

/// A role that may not create an extension gets an ERROR that leaves its
/// connection usable (so the TimescaleDB choice can fall back to the
/// native layout on it, as `migrations` does, instead of retrying
/// forever); that role then migrates its own database to the native
/// layout. The TimescaleDB cases themselves need the extension on the
/// server: a manual check in docs/storage.md.
#[test]
fn a_role_that_cannot_create_extensions_still_gets_a_schema() {
    let Some(server) = PgServer::try_start() else {
        return;
    };
    let mut admin = server.client();
    admin
        .batch_execute("CREATE ROLE plain LOGIN NOSUPERUSER")
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE plaindb OWNER plain")
        .unwrap();
    let url = server
        .url_for("plaindb")
        .replace("user=postgres", "user=plain");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // The setting is hidden from this role (current_setting would fail,
    // and did fail the migration before it asked through pg_settings).
    let visible = client
        .query_opt(
            "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'",
            &[],
        )
        .unwrap();
    assert!(visible.is_none());
    // dblink is not a trusted extension: only a superuser may create it.
    let refused = migrations::create_extension(&mut client, "dblink").unwrap_err();
    let message = refused.as_db_error().map(|d| d.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("permission denied")),
        "{refused}"
    );
    assert!(!client.is_closed());
    assert_eq!(migrations::migrate(&mut client).unwrap(), Layout::Native);
    let mut sink = PgSink::new(&url);
    sink.connect().expect("the plain role's sink connects");
    assert_eq!(sink.layout(), Some(Layout::Native));
}

//! History from PostgreSQL, read once at start into [`State`]: in one
//! repeatable-read snapshot, the highest `seq` of every (type, pool, run)
//! (the marks that keep stream entries from being counted twice) and the
//! aggregates those rows make. Rare types are replayed as events; shares,
//! the bulk of the table, only as sums (`hourly_shares` for the week, 10-
//! minute and 1-minute sums for the chart and the sessions' hashrates).

use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::event::Event;
use super::state::{week_of, State, SLOT_SECS};

const MARKS: &str =
    "SELECT event_type, pool, run, max(seq)::int8 FROM mining_events GROUP BY 1, 2, 3";

/// Unix milliseconds of the newest `received_at` (0 for an empty table).
const NEWEST: &str = "SELECT coalesce(extract(epoch FROM max(received_at)) * 1000, 0)::float8 \
     FROM mining_events";

/// Events replayed whole: `$1` type, `$2` how far back (seconds), `$3`
/// at most this many (the newest), oldest first.
const REPLAY: &str = "SELECT payload::text FROM (SELECT payload, ts FROM mining_events \
     WHERE event_type = $1::text AND ts > now() - make_interval(secs => $2::float8) \
     ORDER BY ts DESC LIMIT $3::int8) t ORDER BY ts";

const WEEKLY: &str = "SELECT \"user\", sum(accepted)::int8 FROM hourly_shares \
     WHERE bucket >= to_timestamp($1::float8) GROUP BY 1";

/// Accepted difficulty per user and `$1`-second slot over the last `$2` s.
const SHARE_SUMS: &str = "SELECT pool, run, (payload->>'client_id')::int8, payload->>'user', \
     payload->>'worker', (floor(extract(epoch FROM ts)::float8 / $1::float8) * $1::float8)::float8, \
     sum((payload->>'diff')::float8), max((payload->>'sdiff')::float8), \
     extract(epoch FROM max(ts))::float8 \
     FROM mining_events WHERE event_type = 'share_submitted' \
     AND payload->>'accepted' = 'true' AND ts > now() - make_interval(secs => $2::float8) \
     GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 6";

/// Load what PostgreSQL holds; returns the newest event's receive time
/// (unix ms), from where the stream reader is rewound.
pub fn load(url: &str, state: &mut State) -> Result<u64, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    if !has_table(&mut tx)? {
        return Ok(0);
    }
    for row in tx.query(MARKS, &[])? {
        let seq: i64 = row.get(3);
        state.set_mark(row.get(0), row.get(1), row.get(2), seq.max(0) as u64);
    }
    let newest: f64 = tx.query_one(NEWEST, &[])?.get(0);
    // Shares first: a session they revive is removed by its disconnect.
    load_shares(&mut tx, state)?;
    replay_history(&mut tx, state)?;
    tx.commit()?;
    Ok(newest.max(0.0) as u64)
}

fn has_table(tx: &mut Transaction<'_>) -> Result<bool, postgres::Error> {
    let row = tx.query_one("SELECT to_regclass('mining_events') IS NOT NULL", &[])?;
    Ok(row.get(0))
}

/// Rare events, replayed in time order through the same fold as the stream.
fn replay_history(tx: &mut Transaction<'_>, state: &mut State) -> Result<(), postgres::Error> {
    let forever = 400.0 * 86_400.0; // beyond the collector's retention
    let blocks = state.limits.max_blocks as i64;
    let sessions = state.limits.max_sessions as i64;
    let plan: [(&str, f64, i64); 5] = [
        ("share_best_diff", forever, i64::MAX),
        ("block_found", forever, blocks),
        ("new_block_network", forever, 1),
        ("miner_connected", 86_400.0, sessions),
        ("miner_disconnected", 86_400.0, sessions),
    ];
    for (kind, secs, limit) in plan {
        for row in tx.query(REPLAY, &[&kind, &secs, &limit])? {
            let text: String = row.get(0);
            if let Some(e) = Event::parse(text.as_bytes()) {
                state.fold(&e);
            }
        }
    }
    Ok(())
}

/// Shares as sums: the week's count per user, the chart's slots, and the
/// live sessions' last minutes, bests and last share.
fn load_shares(tx: &mut Transaction<'_>, state: &mut State) -> Result<(), postgres::Error> {
    let now = super::now();
    let week = week_of(now);
    for row in tx.query(WEEKLY, &[&week_start(now)])? {
        let (user, n): (String, i64) = (row.get(0), row.get(1));
        state.load_weekly(&user, week, n.max(0) as u64);
    }
    let day = (SLOT_SECS * super::state::CHART_SLOTS) as f64;
    for row in tx.query(SHARE_SUMS, &[&(SLOT_SECS as f64), &day])? {
        state.load_slot(&row.get::<_, String>(3), row.get(5), row.get(6));
    }
    let window = state.limits.active_window_secs as f64;
    for row in tx.query(SHARE_SUMS, &[&60.0f64, &window])? {
        let e = Event {
            pool: row.get(0),
            run: row.get(1),
            client_id: row.get::<_, i64>(2).max(0) as u64,
            user: row.get(3),
            worker: row.get(4),
            ts: row.get(5),
            diff: row.get(6),
            sdiff: row.get(7),
            ..Event::default()
        };
        state.load_session_minute(&e, row.get(8));
    }
    Ok(())
}

/// Monday 00:00 UTC of the ISO week holding `now` (unix seconds).
pub fn week_start(now: f64) -> f64 {
    let days = (now.max(0.0) / 86_400.0).floor() as i64;
    // 1970-01-01 was a Thursday: Monday is 3 days before.
    let monday = days - (days + 3).rem_euclid(7);
    (monday * 86_400) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        // Thursday 2026-02-19 12:00 → Monday 2026-02-16.
        assert_eq!(week_start(1771502400.0), 1771200000.0);
        assert_eq!(week_start(1771200000.0), 1771200000.0);
        assert_eq!(week_of(week_start(1771502400.0)), week_of(1771502400.0));
        assert_ne!(
            week_of(week_start(1771502400.0) - 1.0),
            week_of(1771502400.0)
        );
    }
}

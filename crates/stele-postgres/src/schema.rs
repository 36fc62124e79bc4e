//! The PostgreSQL schema, its migrations (recorded in `stele_migrations`) and the monthly
//! partitions of `events`.
//!
//! Layout "for scale": every key of the log tables starts with `tenant_no`, so the schema
//! can be distributed by tenant (Citus) unchanged. `events` is partitioned by RANGE on
//! `time` (integer microseconds, UTC) into one partition per month, created ahead by the
//! writer, plus a DEFAULT partition so that no insert ever fails for want of a partition
//! (events of months before the first partition land there; ingest refuses times more than
//! `max_future_skew_seconds` ahead, so no event lands beyond the months created ahead). When a
//! month's partition is created, the rows of that month already in DEFAULT move into it in the
//! same transaction ([`create_partition`]).
//!
//! PostgreSQL requires the partition key in every unique constraint, so the keys are
//! `(tenant_no, seq, time)` and `(tenant_no, id, time)`. The uniqueness of `(tenant_no, seq)`
//! itself is guaranteed by the writers, not by an index: every append takes the tenant's
//! row in `tenants` `FOR UPDATE` and assigns seqs from its `head_seq`, in the same
//! transaction that inserts the events and moves `head_seq` on, so two appends to one
//! tenant (from any number of nodes) are serialised and never reuse a seq.
//!
//! Text columns are `COLLATE "C"` (code point order, like SQLite's binary order) and are
//! compared through `stele_fold`, which folds ASCII letters only, like SQLite's `NOCASE`.

use time::{Date, Month, OffsetDateTime, Time};
use tokio_postgres::Client;

/// Advisory lock keys (arbitrary constants: "stele" in ASCII, plus a suffix).
const MIGRATION_LOCK: i64 = 0x7374_656c_6501;
const PARTITION_LOCK: i64 = 0x7374_656c_6502;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, aliases, keys, events (partitioned), terms, idempotency.
    r#"
    CREATE FUNCTION stele_fold(text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') $$;

    CREATE TABLE tenants (
        no          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id          text COLLATE "C" NOT NULL UNIQUE,
        name        text NOT NULL,
        created_at  bigint NOT NULL,
        -- The last seq of the tenant's log; its row lock serialises the tenant's appends.
        head_seq    bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE tenant_aliases (
        alias       text COLLATE "C" PRIMARY KEY,
        tenant_no   bigint NOT NULL REFERENCES tenants (no)
    );
    CREATE INDEX tenant_aliases_tenant ON tenant_aliases (tenant_no, alias);
    CREATE TABLE keys (
        id          text COLLATE "C" PRIMARY KEY,
        tenant_no   bigint NOT NULL REFERENCES tenants (no),
        name        text NOT NULL,
        scopes      text NOT NULL,
        view_filter text,
        secret_hash bytea NOT NULL,
        created_at  bigint NOT NULL,
        revoked_at  bigint
    );
    CREATE INDEX keys_tenant ON keys (tenant_no, created_at);

    CREATE TABLE events (
        tenant_no      bigint NOT NULL,
        seq            bigint NOT NULL,
        id             text COLLATE "C" NOT NULL,
        time           bigint NOT NULL,
        received_at    bigint NOT NULL,
        action         text COLLATE "C" NOT NULL,
        status         text COLLATE "C" NOT NULL,
        origin         text COLLATE "C",
        actor_type     text COLLATE "C",
        actor_id       text COLLATE "C",
        actor_name     text COLLATE "C",
        actor_email    text COLLATE "C",
        actor_ip       text COLLATE "C",
        message        text COLLATE "C",
        reason         text COLLATE "C",
        correlation_id text COLLATE "C",
        request_id     text COLLATE "C",
        request_method text COLLATE "C",
        request_path   text COLLATE "C",
        request_status bigint,
        metadata       jsonb,
        doc            tsvector NOT NULL,
        -- The stored event exactly as appended (text, not jsonb: it is served byte for byte).
        json           text NOT NULL,
        PRIMARY KEY (tenant_no, seq, time),
        UNIQUE (tenant_no, id, time)
    ) PARTITION BY RANGE (time);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    CREATE INDEX events_time ON events (tenant_no, time, seq);
    CREATE INDEX events_action ON events (tenant_no, stele_fold(action), time, seq);
    CREATE INDEX events_actor_id ON events (tenant_no, stele_fold(actor_id) NULLS FIRST, time, seq);
    CREATE INDEX events_actor_email ON events (tenant_no, stele_fold(actor_email) NULLS FIRST, time, seq);
    CREATE INDEX events_status ON events (tenant_no, stele_fold(status), time, seq);
    CREATE INDEX events_doc ON events USING gin (doc);

    -- Multi-valued and keyed attributes as folded terms "target.id=u_7", "context.env=prod".
    CREATE TABLE event_terms (
        tenant_no bigint NOT NULL,
        term      text COLLATE "C" NOT NULL,
        seq       bigint NOT NULL,
        PRIMARY KEY (tenant_no, term, seq)
    );

    CREATE TABLE idempotency (
        tenant_no   bigint NOT NULL,
        key         text COLLATE "C" NOT NULL,
        fingerprint bytea NOT NULL,
        receipts    text NOT NULL,
        created_at  bigint NOT NULL,
        PRIMARY KEY (tenant_no, key)
    );
    CREATE INDEX idempotency_created ON idempotency (created_at);
    "#,
    // 2: tamper evidence. Leaf hashes (level 0) and the perfect subtrees of every 4th level
    // (stele_core::integrity::frontier), keyed by tenant first; signed tree heads, all kept.
    r#"
    CREATE TABLE merkle_nodes (
        tenant_no bigint NOT NULL,
        level     int NOT NULL,
        idx       bigint NOT NULL,
        hash      bytea NOT NULL,
        PRIMARY KEY (tenant_no, level, idx)
    );
    CREATE TABLE tree_heads (
        tenant_no bigint NOT NULL,
        size      bigint NOT NULL,
        root      bytea NOT NULL,
        time      bigint NOT NULL,
        key_id    text NOT NULL,
        signature text NOT NULL,
        PRIMARY KEY (tenant_no, size)
    );
    "#,
    // 3: tenant JWT keys (profiles that verify a tenant's tokens): HS256 secrets only sealed by
    // the server, public keys as PEM. Global like `tenants` (a Citus reference table).
    r#"
    CREATE TABLE tenant_jwt (
        tenant_no   bigint PRIMARY KEY REFERENCES tenants (no),
        alg         text NOT NULL,
        key         bytea NOT NULL,
        updated_at  bigint NOT NULL
    );
    "#,
    // 4: ids and aliases are one namespace (issue #10, finding 11): every tenant id and alias
    // holds one row here, so its primary key refuses a name another tenant already has (and
    // makes a concurrent claim of the same name on another node wait for the first's commit).
    // Existing names are copied in, ids first (a clash left by older versions keeps the id).
    // Global like `tenants`.
    r#"
    CREATE TABLE tenant_names (
        name        text COLLATE "C" PRIMARY KEY,
        tenant_no   bigint NOT NULL REFERENCES tenants (no)
    );
    CREATE INDEX tenant_names_tenant ON tenant_names (tenant_no);
    INSERT INTO tenant_names (name, tenant_no) SELECT id, no FROM tenants ON CONFLICT DO NOTHING;
    INSERT INTO tenant_names (name, tenant_no) SELECT alias, tenant_no FROM tenant_aliases ON CONFLICT DO NOTHING;
    "#,
    // 5: the issuer and audience a tenant's JWTs must carry, when configured.
    r#"
    ALTER TABLE tenant_jwt ADD COLUMN issuer text, ADD COLUMN audience text;
    "#,
    // 6: the directory (issue #11): members, groups and their memberships, SCIM connections.
    // `*_key` columns hold the case-folded value a name is unique and sorted under (folded
    // by the server, so both backends fold alike); "C" collation makes keyset order bytewise.
    r#"
    CREATE TABLE members (
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        id            text COLLATE "C" NOT NULL,
        user_name     text NOT NULL,
        user_name_key text COLLATE "C" NOT NULL,
        external_id   text COLLATE "C",
        display_name  text,
        email         text,
        email_key     text COLLATE "C",
        active        boolean NOT NULL,
        role          text NOT NULL,
        resource      text NOT NULL,
        version       bigint NOT NULL,
        created_at    bigint NOT NULL,
        updated_at    bigint NOT NULL,
        PRIMARY KEY (tenant_no, id)
    );
    CREATE UNIQUE INDEX members_user_name ON members (tenant_no, user_name_key);
    CREATE INDEX members_external_id ON members (tenant_no, external_id);
    CREATE INDEX members_email ON members (tenant_no, email_key);
    CREATE TABLE directory_groups (
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        id            text COLLATE "C" NOT NULL,
        display_name  text NOT NULL,
        display_key   text COLLATE "C" NOT NULL,
        external_id   text COLLATE "C",
        role          text,
        resource      text NOT NULL,
        version       bigint NOT NULL,
        created_at    bigint NOT NULL,
        updated_at    bigint NOT NULL,
        PRIMARY KEY (tenant_no, id)
    );
    CREATE INDEX directory_groups_name ON directory_groups (tenant_no, display_key, id);
    CREATE INDEX directory_groups_external_id ON directory_groups (tenant_no, external_id);
    CREATE TABLE group_members (
        tenant_no     bigint NOT NULL,
        group_id      text COLLATE "C" NOT NULL,
        member_id     text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant_no, group_id, member_id)
    );
    CREATE INDEX group_members_member ON group_members (tenant_no, member_id);
    CREATE TABLE scim_connections (
        id            text COLLATE "C" PRIMARY KEY,
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        name          text NOT NULL,
        token_hash    bytea NOT NULL,
        version       bigint NOT NULL,
        created_at    bigint NOT NULL,
        updated_at    bigint NOT NULL,
        revoked_at    bigint
    );
    CREATE INDEX scim_connections_tenant ON scim_connections (tenant_no);
    "#,
    // 7: viewer sign-in (issue #12): a member's credential (argon2id PHC string, pending
    // invite token hash) and server-side sessions keyed by their token's SHA-256.
    r#"
    CREATE TABLE member_credentials (
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        member_id     text COLLATE "C" NOT NULL,
        password_hash text,
        invite_hash   bytea,
        invite_expires_at bigint,
        updated_at    bigint NOT NULL,
        PRIMARY KEY (tenant_no, member_id)
    );
    CREATE TABLE viewer_sessions (
        token_hash    bytea PRIMARY KEY,
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        member_id     text COLLATE "C" NOT NULL,
        created_at    bigint NOT NULL,
        expires_at    bigint NOT NULL
    );
    CREATE INDEX viewer_sessions_member ON viewer_sessions (tenant_no, member_id, created_at);
    "#,
    // Full-text documents split at every character that is not a letter or a digit, as
    // SQLite's tokenizer splits them (`rows::document`): rebuilt from each stored event
    // (redacted events keep their empty document).
    r##"
    UPDATE events SET doc = to_tsvector('simple', translate(
        concat_ws(' ', 'zzt' || tenant_no, j->>'action', j->>'message', j->>'reason',
            j->'actor'->>'name', j->'actor'->>'email',
            (SELECT string_agg(concat_ws(' ', t->>'name', t->>'email'), ' ')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j->'targets') = 'array' THEN j->'targets' ELSE '[]'::jsonb END) AS t)),
        '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
        '                                '))
    FROM (SELECT tenant_no AS t_no, seq AS t_seq, time AS t_time, json::jsonb AS j FROM events WHERE doc <> ''::tsvector) AS src
    WHERE events.tenant_no = src.t_no AND events.seq = src.t_seq AND events.time = src.t_time;
    "##,
    // Embed links (single-use; the opened link is its own read-only session) and each
    // tenant's OpenID Connect provider (client secret sealed by the server).
    r#"
    CREATE TABLE viewer_links (
        token_hash    bytea PRIMARY KEY,
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        key_id        text COLLATE "C" NOT NULL,
        view_filter   text,
        export        boolean NOT NULL,
        created_at    bigint NOT NULL,
        expires_at    bigint NOT NULL,
        session_hash  bytea UNIQUE,
        session_expires_at bigint
    );
    CREATE INDEX viewer_links_tenant ON viewer_links (tenant_no, expires_at);
    CREATE TABLE oidc_providers (
        tenant_no     bigint PRIMARY KEY REFERENCES tenants (no),
        issuer        text NOT NULL,
        client_id     text NOT NULL,
        client_secret bytea NOT NULL,
        name          text NOT NULL,
        version       bigint NOT NULL,
        updated_at    bigint NOT NULL
    );
    "#,
    // 10: streams (record and delivery progress in one row) and retention policies.
    r#"
    CREATE TABLE streams (
        tenant_no     bigint NOT NULL REFERENCES tenants (no),
        id            text NOT NULL,
        name          text NOT NULL,
        kind          text NOT NULL,
        destination   text NOT NULL,
        secrets       bytea NOT NULL,
        filter        text,
        paused        boolean NOT NULL,
        version       bigint NOT NULL,
        created_at    bigint NOT NULL,
        updated_at    bigint NOT NULL,
        cursor        bigint NOT NULL,
        delivered     bigint NOT NULL DEFAULT 0,
        last_success  bigint,
        last_error    text,
        last_error_at bigint,
        failures      integer NOT NULL DEFAULT 0,
        lease_node    text,
        lease_until   bigint,
        PRIMARY KEY (tenant_no, id)
    );
    CREATE TABLE retention (
        tenant_no     bigint PRIMARY KEY REFERENCES tenants (no),
        days          integer,
        legal_hold    boolean NOT NULL,
        hold_reason   text,
        version       bigint NOT NULL,
        updated_at    bigint NOT NULL
    );
    -- Tombstones (redaction, retention) are marked, so retention's scan skips them.
    ALTER TABLE events ADD COLUMN redacted boolean NOT NULL DEFAULT false;
    UPDATE events SET redacted = true WHERE (json::jsonb) ? 'redacted';
    "#,
    // 11: deferred indexing (issue #13). A commit writes each event's terms and full-text
    // document text into its own row; the indexer (`index.rs`) copies them into `event_terms`
    // and `event_docs` (GIN) for `seq <= index_marks.seq`, and reads take the rows after the
    // mark from the rows themselves. Every event stored so far is indexed already.
    r##"
    ALTER TABLE events ADD COLUMN terms text[] NOT NULL DEFAULT '{}';
    ALTER TABLE events ADD COLUMN search text NOT NULL DEFAULT '';
    CREATE TABLE event_docs (
        tenant_no bigint NOT NULL,
        seq       bigint NOT NULL,
        doc       tsvector NOT NULL,
        PRIMARY KEY (tenant_no, seq)
    );
    INSERT INTO event_docs (tenant_no, seq, doc) SELECT tenant_no, seq, doc FROM events WHERE doc <> ''::tsvector;
    CREATE INDEX event_docs_doc ON event_docs USING gin (doc);
    DROP INDEX events_doc;
    ALTER TABLE events DROP COLUMN doc;
    -- No foreign key: the indexer must not wait for a writer's lock on the tenant's row.
    CREATE TABLE index_marks (
        tenant_no bigint PRIMARY KEY,
        seq       bigint NOT NULL
    );
    INSERT INTO index_marks (tenant_no, seq) SELECT no, head_seq FROM tenants;
    -- The rows stored so far get their terms (from their postings) and their document text
    -- (as migration 8 built it), so that `stele reindex` can rebuild every posting from rows.
    UPDATE events SET terms = g.terms
    FROM (SELECT tenant_no AS g_no, seq AS g_seq, array_agg(term ORDER BY term) AS terms
          FROM event_terms GROUP BY tenant_no, seq) AS g
    WHERE events.tenant_no = g.g_no AND events.seq = g.g_seq;
    UPDATE events SET search = translate(
        concat_ws(' ', 'zzt' || tenant_no, j->>'action', j->>'message', j->>'reason',
            j->'actor'->>'name', j->'actor'->>'email',
            (SELECT string_agg(concat_ws(' ', t->>'name', t->>'email'), ' ')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j->'targets') = 'array' THEN j->'targets' ELSE '[]'::jsonb END) AS t)),
        '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
        '                                ')
    FROM (SELECT tenant_no AS s_no, seq AS s_seq, time AS s_time, json::jsonb AS j FROM events WHERE NOT redacted) AS src
    WHERE events.tenant_no = src.s_no AND events.seq = src.s_seq AND events.time = src.s_time;
    "##,
    // 12: `message co "…"` through a trigram index (issue #13). The indexer also copies each
    // event's folded message into `event_messages`, whose GIN index (pg_trgm, a contrib
    // extension that a database owner may create) gives a needle's candidates; the rows after
    // the mark are compared as before. The events indexed so far get theirs now.
    r#"
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE event_messages (
        tenant_no bigint NOT NULL,
        seq       bigint NOT NULL,
        message   text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant_no, seq)
    );
    INSERT INTO event_messages (tenant_no, seq, message)
    SELECT e.tenant_no, e.seq, stele_fold(e.message) FROM events e JOIN index_marks m ON m.tenant_no = e.tenant_no
    WHERE e.seq <= m.seq AND e.message IS NOT NULL ORDER BY 1, 2;
    CREATE INDEX event_messages_trgm ON event_messages USING gin (message gin_trgm_ops);
    -- The planner estimates a needle's share of messages from this column's histogram: 1000
    -- entries tell a needle in 0.1% of the messages (start from the index) from a common one.
    ALTER TABLE event_messages ALTER COLUMN message SET STATISTICS 1000;
    "#,
    // 13: counts of one `action` or `status` from their indexes alone (issue #13).
    // The planner offers an index-only scan only when every column a query names is in the
    // index, and `stele_fold(action) = $1` names `action`, which an expression index does not
    // hold: PostgreSQL's documented remedy is to INCLUDE the column ("Index-Only Scans and
    // Covering Indexes"). A count of one action then reads index entries instead of one heap
    // row per match (107 k of them for the largest tenant's commonest action at 10 M events).
    r#"
    DROP INDEX events_action;
    CREATE INDEX events_action ON events (tenant_no, stele_fold(action), time, seq) INCLUDE (action);
    DROP INDEX events_status;
    CREATE INDEX events_status ON events (tenant_no, stele_fold(status), time, seq) INCLUDE (status);
    "#,
    // 14: "what did this actor do of this kind" — one action and one actor's email — read in
    // time order from one index (issue #13). With an index per column the planner walks one
    // column's entries and reads each row to compare the other: a rare pair of two common
    // values (`secret.archived` × an actor with 34 k events, 214 in common in the 10 M
    // benchmark) read thousands of rows for a page (p99 120 ms, 1.2 s cold). Here the pair's
    // entries are adjacent and already in the page's order.
    r#"
    CREATE INDEX IF NOT EXISTS events_action_actor_email ON events (tenant_no, stele_fold(action), stele_fold(actor_email), time, seq);
    "#,
    // 15: `message co "…"` candidates of one tenant only (issue #13). pg_trgm's index holds
    // every tenant's trigrams under the same keys, so a needle in 1 590 of a small tenant's
    // events had 176 k candidates, rechecked row by row (60–400 ms). Each folded message is
    // indexed instead by its aligned trigrams (characters 0, 2, 4, …: `layout::GRAM_STEP`,
    // SQLite's scheme) as `<tenant_no>:<trigram>` keys, which a needle asks for at each of its
    // offsets (`compile.rs::needle_grams`). Half as many keys as pg_trgm's, computed by an
    // IMMUTABLE SQL function the index calls (nothing more is stored). The trigrams at 0, 6,
    // 12, … are one regular expression's matches (three characters, then up to three
    // skipped), those at 2, 8, … and 4, 10, … the same from the third and the fifth
    // character: three linear passes. (`substr(m, i, 3)` for each `i` walks the string from
    // its start each time: a message of 10 000 characters took 270 ms instead of 6.)
    r#"
    CREATE OR REPLACE FUNCTION stele_grams(no bigint, m text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT COALESCE(array_agg(no::text || ':' || g[1]), '{}') FROM (
                  SELECT regexp_matches(m, '(...).{0,3}', 'g') AS g
                  UNION ALL SELECT regexp_matches(substr(m, 3), '(...).{0,3}', 'g')
                  UNION ALL SELECT regexp_matches(substr(m, 5), '(...).{0,3}', 'g')) AS s $$;
    CREATE INDEX IF NOT EXISTS event_messages_grams ON event_messages USING gin (stele_grams(tenant_no, message));
    DROP INDEX IF EXISTS event_messages_trgm;
    "#,
    // 16: the words of `q` under keys of one tenant, and the lists' times (issue #13). A
    // document's lexemes were the words themselves, so a word's GIN postings were every
    // tenant's, intersected with the tenant's token (`zzt<no>`, 2.2 M postings in the largest
    // tenant of the 10 M benchmark): a word in 2 700 of its events took 10 ms warm to list.
    // Each word of `events.search` is now prefixed with `<tenant_no>x` before it is parsed
    // (`stele_doc`; the query's words alike, `compile.rs::ts_query`, and no token AND-ed in),
    // so a word's postings are its tenant's alone (4 ms). The text is unchanged, so the rows
    // after the mark are tested through the same function. And each document and message
    // carries its event's time, so a list of matches is put in the page's order without
    // reading every match's row (`compile.rs::matches_sql`). Both tables are rebuilt (10 M
    // events: 9 min on a machine of two cores).
    r#"
    CREATE OR REPLACE FUNCTION stele_doc(no bigint, search text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT to_tsvector('simple', regexp_replace(search, '([^ ]+)', no::text || 'x\1', 'g')) $$;
    DROP INDEX event_docs_doc;
    TRUNCATE event_docs;
    ALTER TABLE event_docs ADD COLUMN time bigint NOT NULL;
    INSERT INTO event_docs (tenant_no, seq, time, doc)
    SELECT e.tenant_no, e.seq, e.time, stele_doc(e.tenant_no, e.search) FROM events e JOIN index_marks m ON m.tenant_no = e.tenant_no
    WHERE e.seq <= m.seq AND e.search <> '' ORDER BY 1, 2;
    CREATE INDEX event_docs_doc ON event_docs USING gin (doc);
    DROP INDEX event_messages_grams;
    TRUNCATE event_messages;
    ALTER TABLE event_messages ADD COLUMN time bigint NOT NULL;
    INSERT INTO event_messages (tenant_no, seq, time, message)
    SELECT e.tenant_no, e.seq, e.time, stele_fold(e.message) FROM events e JOIN index_marks m ON m.tenant_no = e.tenant_no
    WHERE e.seq <= m.seq AND e.message IS NOT NULL ORDER BY 1, 2;
    CREATE INDEX event_messages_grams ON event_messages USING gin (stele_grams(tenant_no, message));
    -- The planner's statistics of the rebuilt tables, before the first read plans with none.
    ANALYZE event_docs, event_messages;
    "#,
    // 17: the documents and messages of a time bucket, from the index (issue #13). A list of
    // a word's matches read one heap page of `event_docs` per match to learn its time, and a
    // word in 8 451 of the largest tenant's events took 589 ms read from disk for a page of 51
    // (10 M events, PostgreSQL just started). Each document and message is also indexed under
    // its tenant's key of its time's bucket (`<no> <time >> 35>`: 2^35 µs, about 9.5 hours;
    // a space, which no lexeme of a parsed text and no `<no>:<trigram>` key holds, so no
    // event's text can forge it), so a newest-first list asks the index for the word AND the
    // page's last few buckets and reads those matches only (`read.rs::listed_by_bucket`). The
    // keys are index expressions over columns both tables have: no table is rewritten.
    r#"
    CREATE OR REPLACE FUNCTION stele_bucket(no bigint, t bigint) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT no::text || ' ' || (t >> 35)::text $$;
    CREATE OR REPLACE FUNCTION stele_doc_keys(no bigint, t bigint, doc tsvector) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT doc || array_to_tsvector(ARRAY[stele_bucket(no, t)]) $$;
    CREATE OR REPLACE FUNCTION stele_message_keys(no bigint, t bigint, m text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT stele_grams(no, m) || stele_bucket(no, t) $$;
    CREATE INDEX IF NOT EXISTS event_docs_keys ON event_docs USING gin (stele_doc_keys(tenant_no, time, doc));
    DROP INDEX IF EXISTS event_docs_doc;
    CREATE INDEX IF NOT EXISTS event_messages_keys ON event_messages USING gin (stele_message_keys(tenant_no, time, message));
    DROP INDEX IF EXISTS event_messages_grams;
    ANALYZE event_docs, event_messages;
    "#,
];

/// Brings the database to the newest schema version. Several nodes starting at once take
/// turns on a transaction-scoped advisory lock; each migration is one transaction.
pub async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS stele_migrations (
            version    integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM stele_migrations", &[]).await?.get(0);
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.batch_execute(sql).await?;
        let v = version as i32 + 1;
        tx.execute("INSERT INTO stele_migrations (version) VALUES ($1)", &[&v]).await?;
        tracing::info!(version = v, "applied PostgreSQL migration");
    }
    tx.commit().await
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// How many months ahead of the current one get their partition.
pub const MONTHS_AHEAD: u32 = 2;

/// `(year, month)` plus `n` months.
fn add_months(year: i32, month: u8, n: u32) -> (i32, u8) {
    let index = year as i64 * 12 + i64::from(month) - 1 + i64::from(n);
    ((index.div_euclid(12)) as i32, (index.rem_euclid(12) + 1) as u8)
}

/// The first microsecond of a month (UTC).
fn month_start_micros(year: i32, month: u8) -> Option<i64> {
    let month = Month::try_from(month).ok()?;
    let date = Date::from_calendar_date(year, month, 1).ok()?;
    let start = date.with_time(Time::MIDNIGHT).assume_utc();
    Some(start.unix_timestamp() * 1_000_000)
}

/// The name of a month's partition: `events_YYYYMM`.
pub fn partition_name(year: i32, month: u8) -> String {
    format!("events_{year:04}{month:02}")
}

/// Creates the partitions of the current month and the next [`MONTHS_AHEAD`] months if
/// they are missing (see [`create_partition`]). A partition that cannot be created is logged
/// and skipped; its rows stay in the DEFAULT partition until the next try.
pub async fn ensure_partitions(client: &mut Client, now: OffsetDateTime) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut created = Vec::new();
    for n in 0..=MONTHS_AHEAD {
        let (y, m) = add_months(now.year(), u8::from(now.month()), n);
        let Some((from, to)) = month_bounds(y, m) else { continue };
        let name = partition_name(y, m);
        match create_partition(client, &name, from, to).await {
            Ok(moved) if moved >= 0 => created.push(name),
            Ok(_) => {}
            Err(e) => tracing::warn!(partition = %name, error = %e, "could not create events partition"),
        }
    }
    Ok(created)
}

/// Creates the partition `name` for `[from, to)` in one transaction, taking along the rows of
/// that range the DEFAULT partition already holds (a future-dated event an older version
/// accepted, or one written before the partition existed): a plain `CREATE TABLE … PARTITION
/// OF` would fail on them, and every later event of the month would go to DEFAULT too.
///
/// Under the advisory lock (nodes take turns) and an exclusive lock on the DEFAULT partition
/// (no row of the range can arrive there meanwhile; appends to other partitions go on), it
/// creates a standalone table shaped like `events`, moves the rows (`DELETE … RETURNING` into
/// `INSERT`: each row is in exactly one place at commit), and attaches the table. A CHECK
/// constraint of the bounds lets the attach skip scanning the new table. Everything commits
/// together or not at all. Returns the number of rows moved, or -1 when the partition existed.
pub async fn create_partition(
    client: &mut Client,
    name: &str,
    from: i64,
    to: i64,
) -> Result<i64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await?;
    let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).await?.get(0);
    if exists {
        return Ok(-1);
    }
    // The name and bounds are computed numbers, never input.
    tx.batch_execute(&format!(
        "LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE;
         CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
         ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK (time >= {from} AND time < {to});"
    ))
    .await?;
    let moved = tx
        .execute(
            &format!(
                "WITH moved AS (DELETE FROM events_default WHERE time >= {from} AND time < {to} RETURNING *)
                 INSERT INTO {name} SELECT * FROM moved"
            ),
            &[],
        )
        .await?;
    tx.batch_execute(&format!(
        "ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to});
         ALTER TABLE {name} DROP CONSTRAINT {name}_bounds;"
    ))
    .await?;
    tx.commit().await?;
    tracing::info!(partition = %name, moved_from_default = moved, "created events partition");
    Ok(moved as i64)
}

/// The suffix of a month partition that was replaced by the compact copy of its tombstones.
pub const EXPIRED_SUFFIX: &str = "_expired";

/// Gives the space of expired months back: every month partition that ended before the
/// current month and holds only tombstones (every tenant's events of that month were expired
/// or redacted) is replaced by a compact copy of its tombstones ([`fold_partition`]), and the
/// old partition, with its dead rows and bloated indexes, is dropped. Partitions are shared by
/// tenants, so a month with one live event of any tenant stays as it is (`VACUUM` reuses its
/// free space). Returns the names of the partitions dropped. A partition that cannot be
/// folded now (a lock not granted in time) is logged and left for the next run.
pub async fn fold_expired_partitions(
    client: &mut Client,
    now: OffsetDateTime,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let this_month = month_start_micros(now.year(), u8::from(now.month())).unwrap_or(i64::MIN);
    let names: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{6}$'
             ORDER BY c.relname",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut folded = Vec::new();
    for name in names {
        let Some((from, to)) = name_bounds(&name) else { continue };
        if to > this_month {
            break;
        }
        match fold_partition(client, &name, from, to).await {
            Ok(true) => folded.push(name),
            Ok(false) => {}
            Err(e) => tracing::warn!(partition = %name, error = %e, "could not fold an expired events partition"),
        }
    }
    Ok(folded)
}

/// The bounds of a partition named `events_YYYYMM`.
fn name_bounds(name: &str) -> Option<(i64, i64)> {
    let digits = name.strip_prefix("events_")?;
    let year: i32 = digits.get(..4)?.parse().ok()?;
    let month: u8 = digits.get(4..6)?.parse().ok()?;
    month_bounds(year, month)
}

/// Replaces the month partition `name` (bounds `[from, to)`) by `{name}_expired`, a copy of
/// its rows, if every row is a tombstone; false (nothing changed) if one is not or there are
/// none.
///
/// Why a copy and not only `DROP`: a tombstone keeps the event's place in the log (its `seq`,
/// id, time and leaf hash, and why and when it was removed), which every export, page and
/// `stele verify` shows; it is a few hundred bytes where the event and its index entries were
/// kilobytes. The Merkle tree keeps its own leaves, so no proof reads the partition.
///
/// Locks, in this order (inserters take `events` then the partition, so a deadlock is
/// possible only with an insert into this past month, and PostgreSQL then cancels one side):
/// the partition in SHARE mode while copying (readers go on; only writers of this month
/// wait), then `events` ACCESS EXCLUSIVE just for detach, attach and drop — the copy already
/// has its indexes (`LIKE … INCLUDING INDEXES`) and a CHECK constraint of its bounds, so the
/// attach neither builds nor scans. `lock_timeout` keeps a long-running reader from making
/// everyone queue behind the fold: it gives up and tries on the next run. The copy itself is
/// bounded by a 15-minute `statement_timeout` (a month of tombstones copies in far less).
pub async fn fold_partition(
    client: &mut Client,
    name: &str,
    from: i64,
    to: i64,
) -> Result<bool, tokio_postgres::Error> {
    let copy = format!("{name}{EXPIRED_SUFFIX}");
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '15min'").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await?;
    let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).await?.get(0);
    if !exists {
        return Ok(false);
    }
    // The names and bounds are computed from the catalogue and numbers, never input.
    tx.batch_execute(&format!("LOCK TABLE {name} IN SHARE MODE")).await?;
    // An empty month has nothing to give back; a month with a live event is not expired.
    let keep: bool = tx
        .query_one(
            &format!("SELECT NOT EXISTS (SELECT 1 FROM {name}) OR EXISTS (SELECT 1 FROM {name} WHERE NOT redacted)"),
            &[],
        )
        .await?
        .get(0);
    if keep {
        return Ok(false);
    }
    tx.batch_execute(&format!(
        "CREATE TABLE {copy} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
         ALTER TABLE {copy} ADD CONSTRAINT {copy}_bounds CHECK (time >= {from} AND time < {to});"
    ))
    .await?;
    let copied = tx.execute(&format!("INSERT INTO {copy} SELECT * FROM {name}"), &[]).await?;
    tx.batch_execute(&format!(
        "ALTER TABLE events DETACH PARTITION {name};
         ALTER TABLE events ATTACH PARTITION {copy} FOR VALUES FROM ({from}) TO ({to});
         ALTER TABLE {copy} DROP CONSTRAINT {copy}_bounds;
         DROP TABLE {name};"
    ))
    .await?;
    tx.commit().await?;
    tracing::info!(partition = %name, kept_in = %copy, tombstones = copied, "dropped an expired events partition");
    Ok(true)
}

/// The first microsecond of the month `(year, month)` and of the next one: a partition's bounds.
pub fn month_bounds(year: i32, month: u8) -> Option<(i64, i64)> {
    let (ny, nm) = add_months(year, month, 1);
    Some((month_start_micros(year, month)?, month_start_micros(ny, nm)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_years() {
        assert_eq!(add_months(2024, 11, 2), (2025, 1));
        assert_eq!(add_months(2024, 12, 0), (2024, 12));
        assert_eq!(month_start_micros(1970, 1), Some(0));
        assert_eq!(month_start_micros(1970, 2), Some(31 * 86_400 * 1_000_000));
        assert_eq!(partition_name(2026, 3), "events_202603");
    }
}

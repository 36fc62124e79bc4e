//! A lean generated corpus for the query benchmark: ~400-byte events with realistic
//! cardinalities (50 tenants with a Zipf share, 1000 actors per tenant, 200 actions, context
//! `product_id` (20 values) and `environment_id` (5), targets from a few thousand ids, messages
//! of a few words from a 2000-word vocabulary with Zipf frequencies).

use std::collections::HashSet;
use std::fmt::Write as _;

use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use stele_core::Timestamp;

pub const TENANTS: usize = 50;
pub const ACTORS: usize = 1000;
pub const TARGETS: usize = 3000;
pub const PRODUCTS: usize = 20;
pub const VOCABULARY: usize = 2000;

const RESOURCES: [&str; 25] = [
    "user",
    "group",
    "role",
    "apikey",
    "project",
    "repository",
    "document",
    "folder",
    "invoice",
    "subscription",
    "payment",
    "webhook",
    "integration",
    "domain",
    "certificate",
    "secret",
    "policy",
    "session",
    "device",
    "workspace",
    "report",
    "dashboard",
    "alert",
    "backup",
    "deployment",
];
const VERBS: [&str; 8] = ["created", "updated", "deleted", "viewed", "exported", "shared", "archived", "restored"];
const ENVIRONMENTS: [(&str, f64); 5] =
    [("production", 70.0), ("staging", 15.0), ("development", 10.0), ("sandbox", 4.0), ("preview", 1.0)];
const FIRST: [&str; 20] = [
    "ana", "ben", "chloe", "david", "emma", "farid", "grace", "hugo", "ines", "jonas", "kira", "liam", "maya", "noah",
    "olga", "pablo", "quinn", "rosa", "sven", "tara",
];
const LAST: [&str; 25] = [
    "silva", "smith", "novak", "tanaka", "garcia", "muller", "rossi", "kowalski", "dubois", "jensen", "ivanova",
    "okafor", "nguyen", "haddad", "larsen", "moreau", "costa", "weber", "petrov", "kim", "lopez", "berg", "fischer",
    "romano", "sato",
];
const METHODS: [&str; 4] = ["GET", "POST", "PATCH", "DELETE"];
const REASONS: [&str; 4] = ["permission denied", "quota exceeded", "invalid input", "conflict with a newer version"];

/// Weights 1/rank^s for ranks 1..=n.
fn zipf(n: usize, s: f64) -> WeightedIndex<f64> {
    WeightedIndex::new((1..=n).map(|r| 1.0 / (r as f64).powf(s))).expect("positive weights")
}

/// Events per tenant (largest first): a Zipf (s = 1) share of `total`, at least one each.
pub fn tenant_sizes(total: u64) -> Vec<u64> {
    let weights: Vec<f64> = (1..=TENANTS).map(|r| 1.0 / r as f64).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights.iter().map(|w| ((total as f64) * w / sum).floor().max(1.0) as u64).collect();
    let assigned: u64 = sizes.iter().sum();
    sizes[0] = (sizes[0] + total).saturating_sub(assigned).max(1);
    sizes
}

/// The tenant id of rank `i` (0 = largest).
pub fn tenant_id(i: usize) -> String {
    format!("t{:02}", i + 1)
}

/// The shared vocabulary and distributions.
pub struct Corpus {
    words: Vec<String>,
    word_dist: WeightedIndex<f64>,
    actions: Vec<(usize, &'static str)>,
    action_dist: WeightedIndex<f64>,
    actor_dist: WeightedIndex<f64>,
    target_dist: WeightedIndex<f64>,
    product_dist: WeightedIndex<f64>,
    env_dist: WeightedIndex<f64>,
}

impl Corpus {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let consonants = b"bcdfghjklmnprstvz";
        let vowels = b"aeiou";
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(VOCABULARY);
        while words.len() < VOCABULARY {
            let syllables = rng.gen_range(2..=4);
            let mut w = String::new();
            for _ in 0..syllables {
                w.push(char::from(consonants[rng.gen_range(0..consonants.len())]));
                w.push(char::from(vowels[rng.gen_range(0..vowels.len())]));
            }
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut actions: Vec<(usize, &'static str)> =
            (0..RESOURCES.len()).flat_map(|r| VERBS.iter().map(move |v| (r, *v))).collect();
        actions.shuffle(&mut rng);
        Self {
            words,
            word_dist: zipf(VOCABULARY, 1.0),
            actions,
            action_dist: zipf(RESOURCES.len() * VERBS.len(), 1.0),
            actor_dist: zipf(ACTORS, 0.8),
            target_dist: zipf(TARGETS, 0.7),
            product_dist: zipf(PRODUCTS, 0.8),
            env_dist: WeightedIndex::new(ENVIRONMENTS.iter().map(|e| e.1)).expect("positive weights"),
        }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        &self.words[self.word_dist.sample(rng)]
    }

    /// One event of `tenant` as ingest JSON (~350 bytes; ~500 once stored with its id and
    /// timestamps).
    pub fn event_json(&self, rng: &mut StdRng, tenant: &str, time: Timestamp) -> String {
        let (res_i, verb) = self.actions[self.action_dist.sample(rng)];
        let resource = RESOURCES[res_i];
        let actor = self.actor_dist.sample(rng);
        let (first, last) = (FIRST[actor % FIRST.len()], LAST[(actor / FIRST.len()) % LAST.len()]);
        let failure = rng.gen_bool(0.04);
        let mut s = String::with_capacity(512);
        let _ = write!(
            s,
            r#"{{"action":"{resource}.{verb}","time":"{time}","status":"{}","origin":"{}","message":""#,
            if failure { "failure" } else { "success" },
            ["user", "api", "system"][rng.gen_range(0..3)],
        );
        for i in 0..rng.gen_range(4..=7) {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.word(rng));
        }
        s.push('"');
        if failure {
            let _ = write!(s, r#","reason":"{}""#, REASONS[rng.gen_range(0..REASONS.len())]);
        }
        let _ = write!(
            s,
            r#","actor":{{"type":"user","id":"u_{actor}","name":"{first} {last}","email":"{first}.{last}{actor}@{tenant}.example.com","ip":"10.{}.{}.{}"}}"#,
            actor % 7,
            actor % 251,
            rng.gen_range(1..255)
        );
        s.push_str(r#","targets":["#);
        let targets = if rng.gen_bool(0.2) { 2 } else { 1 };
        let mut first_target = 0;
        for t in 0..targets {
            let n = self.target_dist.sample(rng);
            if t == 0 {
                first_target = n;
            } else {
                s.push(',');
            }
            let kind = if t == 0 { resource } else { "user" };
            let _ =
                write!(s, r#"{{"type":"{kind}","id":"{kind}_{n}","name":"{}"}}"#, self.words[(n * 7 + 3) % VOCABULARY]);
        }
        let _ = write!(
            s,
            r#"],"context":{{"product_id":"prod_{:02}","environment_id":"{}"}}"#,
            self.product_dist.sample(rng),
            ENVIRONMENTS[self.env_dist.sample(rng)].0,
        );
        // A third of the events carry the HTTP request that caused them.
        if rng.gen_bool(0.3) {
            let _ = write!(
                s,
                r#","request":{{"method":"{}","path":"/v1/{resource}s/{resource}_{first_target}","status_code":{}}}"#,
                METHODS[rng.gen_range(0..METHODS.len())],
                if failure { 403 } else { 200 },
            );
        }
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_core::{parse_ingest_body, Limits};

    #[test]
    fn events_validate_and_stay_lean() {
        let corpus = Corpus::new(7);
        let mut rng = StdRng::seed_from_u64(1);
        let now = Timestamp::from_micros(1_780_000_000_000_000);
        for _ in 0..200 {
            let json = corpus.event_json(&mut rng, "t01", now);
            let parsed = parse_ingest_body(json.as_bytes(), &Limits::default(), now).expect("valid event");
            let stored = parsed.events[0].json.len();
            // Including the 75 bytes of `"hash":"…"`.
            assert!((250..780).contains(&stored), "{stored}: {json}");
        }
    }

    #[test]
    fn shares_are_skewed_and_exact() {
        let sizes = tenant_sizes(1_000_000);
        assert_eq!(sizes.iter().sum::<u64>(), 1_000_000);
        let top = sizes[0] as f64 / 1e6;
        assert!((0.2..0.25).contains(&top), "{top}");
    }
}

//! Rate limits: failed authentications per client IP (API keys and SCIM tokens alike), and
//! requests per key. Both are token buckets keyed by a value the client controls (its
//! address, its key id), so the map is bounded ([`MAX_KEYS`]): full buckets are forgotten
//! first, and when every kept bucket is still draining a new client is let through unlimited
//! rather than locking everybody out (an attacker with that many addresses is not slowed by
//! a limiter anyway). Clocks are passed in, so tests need not wait.
//!
//! Hand-written rather than a crate: the few lines of a bucket are the whole logic, and the
//! eviction rule (bounded keys, fail open) is Stele's own decision.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Most clients a limiter keeps a bucket for.
pub const MAX_KEYS: usize = 100_000;

/// `[rate_limits]` of the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Failed authentications one client IP may make per minute (a burst of as many); beyond
    /// it every request from that IP that needs authentication is answered 429 until the
    /// bucket refills. 0 turns the limit off.
    pub failed_auth_per_minute: u32,
    /// Requests one key may make per second (bursts of twice as many). 0 turns it off.
    pub key_requests_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { failed_auth_per_minute: 30, key_requests_per_second: 2000 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key: `rate` tokens per second, at most `burst`.
pub struct Limiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: f64, burst: f64) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            rate: per_second,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn refill(&self, b: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        Bucket { tokens: (b.tokens + elapsed * self.rate).min(self.burst), at: now }
    }

    /// How long until `key` has a token again, if it has none now (nothing is taken).
    pub fn exhausted(&self, key: &K, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().ok()?;
        let b = self.refill(*buckets.get(key)?, now);
        (b.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
    }

    /// Takes a token for `key`; `Err(wait)` when it has none (then nothing is taken).
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let current = match buckets.get(key) {
            Some(b) => self.refill(*b, now),
            None => {
                if buckets.len() >= MAX_KEYS {
                    let (rate, burst) = (self.rate, self.burst);
                    buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
                    if buckets.len() >= MAX_KEYS {
                        return Ok(());
                    }
                }
                Bucket { tokens: self.burst, at: now }
            }
        };
        if current.tokens < 1.0 {
            buckets.insert(key.clone(), current);
            return Err(Duration::from_secs_f64((1.0 - current.tokens) / self.rate));
        }
        buckets.insert(key.clone(), Bucket { tokens: current.tokens - 1.0, at: now });
        Ok(())
    }
}

/// The limiters of a server.
pub struct RateLimiters {
    pub failed_auth: Option<Limiter<IpAddr>>,
    pub per_key: Option<Limiter<String>>,
}

impl RateLimiters {
    pub fn new(settings: &RateLimits) -> Self {
        let per_minute = f64::from(settings.failed_auth_per_minute);
        let per_second = f64::from(settings.key_requests_per_second);
        Self {
            failed_auth: Limiter::new(per_minute / 60.0, per_minute),
            per_key: Limiter::new(per_second, 2.0 * per_second),
        }
    }
}

/// Middleware: a client IP that spent its failed authentications gets 429 on every request
/// but the operations endpoints (before any handler runs, so a flood of guesses costs no key lookups and, on the SCIM
/// endpoints, writes nothing to a tenant's log); every 401 answered spends one of them.
pub async fn failed_auth_guard(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    // Operations endpoints need no credentials: a load balancer's health checks from an
    // address that also failed to authenticate must still get through.
    let open = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics" | "/openapi.json");
    let (Some(limiter), Some(ip), false) = (state.rates.failed_auth.as_ref(), ip, open) else {
        return next.run(request).await;
    };
    let now = Instant::now();
    if let Some(wait) = limiter.exhausted(&ip, now) {
        crate::metrics::rejected(crate::metrics::Rejection::FailedAuthLimit);
        return crate::error::ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too-many-failed-authentications",
            "Too many failed authentications",
            "this address presented too many unknown, wrong or revoked credentials; retry later",
        )
        .with_retry_after(retry_after(wait))
        .into_response();
    }
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::UNAUTHORIZED {
        // The bucket may run dry here; the next request from the address is refused.
        let _ = limiter.take(&ip, now);
    }
    response
}

/// Whole seconds to announce in `Retry-After` (at least 1).
pub fn retry_after(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills_with_the_clock() {
        let limiter = Limiter::new(0.5, 3.0).expect("on");
        let t0 = Instant::now();
        let ip = "203.0.113.9".to_owned();
        for _ in 0..3 {
            assert!(limiter.take(&ip, t0).is_ok());
        }
        let wait = limiter.take(&ip, t0).expect_err("empty");
        assert_eq!(retry_after(wait), 2, "one token per 2 s");
        assert_eq!(limiter.exhausted(&ip, t0), Some(Duration::from_secs(2)), "the wait is exact");
        assert_eq!(limiter.exhausted(&ip, t0 + Duration::from_millis(500)), Some(Duration::from_millis(1500)));
        assert!(limiter.take(&"198.51.100.1".to_owned(), t0).is_ok(), "another client has its own bucket");
        assert!(limiter.exhausted(&ip, t0 + Duration::from_millis(1999)).is_some());
        assert!(limiter.exhausted(&ip, t0 + Duration::from_secs(2)).is_none(), "refilled");
        assert!(limiter.take(&ip, t0 + Duration::from_secs(2)).is_ok());
        assert!(limiter.take(&ip, t0 + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn zero_means_no_limit_and_the_key_count_is_bounded() {
        assert!(Limiter::<u32>::new(0.0, 10.0).is_none());
        let limiter = Limiter::new(1.0, 1.0).expect("on");
        let t0 = Instant::now();
        for k in 0..MAX_KEYS as u32 {
            assert!(limiter.take(&k, t0).is_ok());
        }
        // Every bucket is draining: a new client is let through, and nothing grows.
        assert!(limiter.take(&(MAX_KEYS as u32), t0).is_ok());
        assert_eq!(limiter.buckets.lock().map(|b| b.len()).unwrap_or(0), MAX_KEYS);
        // Once they refill they are forgotten to make room.
        assert!(limiter.take(&(MAX_KEYS as u32 + 1), t0 + Duration::from_secs(5)).is_ok());
        assert_eq!(limiter.buckets.lock().map(|b| b.len()).unwrap_or(0), 1);
    }
}

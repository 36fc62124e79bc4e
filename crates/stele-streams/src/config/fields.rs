//! Reading one stream body's fields: each getter checks type and bounds and names the field
//! in its error, so `parse` reads like the field list of the API docs.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};
use url::Url;

use super::{ConfigError, ParseOptions};

/// URLs longer than this are refused (browsers' and proxies' common limit).
pub(crate) const MAX_URL: usize = 2048;
/// Names, tags, paths and tokens longer than this are refused.
pub(crate) const MAX_NAME: usize = 256;
/// A CA certificate bundle of more than this is not one CA.
pub(crate) const MAX_PEM: usize = 64 * 1024;

pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Refuses any member not in `known`, naming the first (in name order).
    pub(crate) fn new(map: &'a Map<String, Value>, known: &[&str]) -> Result<Self, ConfigError> {
        let mut unknown: Vec<&str> = map.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
        unknown.sort_unstable();
        if let Some(first) = unknown.first() {
            // The caller's own text, echoed back: bounded, without control characters.
            let name: String = first.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err(ConfigError::new(name, format!("unknown field; expected one of: {}", known.join(", "))));
        }
        Ok(Fields { map })
    }

    /// The member, `null` counting as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// An optional string of 1..=`max` characters without control characters.
    pub(crate) fn text(&self, name: &str, max: usize) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let Some(s) = value.as_str() else { return Err(ConfigError::new(name, "must be a string")) };
        if s.is_empty() {
            return Err(ConfigError::new(name, "must not be empty"));
        }
        if s.chars().count() > max {
            return Err(ConfigError::new(name, format!("must be at most {max} characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(ConfigError::new(name, "must not contain control characters"));
        }
        Ok(Some(s.to_owned()))
    }

    pub(crate) fn required_text(&self, name: &str, max: usize) -> Result<String, ConfigError> {
        self.text(name, max)?.ok_or_else(|| ConfigError::new(name, "is required"))
    }

    /// A required token that goes into an HTTP header: visible ASCII only.
    pub(crate) fn token(&self, name: &str, min: usize) -> Result<String, ConfigError> {
        let s = self.required_text(name, MAX_NAME)?;
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(name, "must be printable ASCII without spaces"));
        }
        if s.len() < min {
            return Err(ConfigError::new(name, format!("must be at least {min} characters")));
        }
        Ok(s)
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ConfigError::new(name, "must be true or false")),
        }
    }

    pub(crate) fn integer(&self, name: &str, range: RangeInclusive<u64>) -> Result<Option<u64>, ConfigError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        match value.as_u64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::new(name, format!("must be an integer from {} to {}", range.start(), range.end()))),
        }
    }

    /// An http(s) URL (see [`check_url`]).
    pub(crate) fn url(&self, name: &str, options: ParseOptions, base: bool) -> Result<Option<Url>, ConfigError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let Some(s) = value.as_str() else { return Err(ConfigError::new(name, "must be a string")) };
        check_url(name, s, options, base).map(Some)
    }
}

/// An absolute https URL (http only with [`ParseOptions::allow_http`]) with a host, at most
/// [`MAX_URL`] long, without user name, password or fragment, and — for a `base` URL that
/// a path is appended to — without a query.
pub(crate) fn check_url(name: &str, s: &str, options: ParseOptions, base: bool) -> Result<Url, ConfigError> {
    if s.len() > MAX_URL {
        return Err(ConfigError::new(name, format!("must be at most {MAX_URL} characters")));
    }
    let url = Url::parse(s).map_err(|_| ConfigError::new(name, "must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if options.allow_http => {}
        "http" => return Err(ConfigError::new(name, "must use https")),
        _ => return Err(ConfigError::new(name, "must be an http or https URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(name, "must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(name, "must not contain a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(ConfigError::new(name, "must not have a fragment"));
    }
    if base && url.query().is_some() {
        return Err(ConfigError::new(name, "must not have a query"));
    }
    Ok(url)
}

/// `base` with `suffix` appended to its path, unless its path already ends with it (so
/// both `https://splunk:8088` and `https://splunk:8088/services/collector/event` work).
pub(crate) fn endpoint(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = base.path().trim_end_matches('/');
    if !path.ends_with(suffix) {
        url.set_path(&format!("{path}{suffix}"));
    }
    url
}

/// A DNS name (letters, digits, `-`, `.`) or an IP address.
pub(crate) fn check_host(name: &str, s: &str) -> Result<(), ConfigError> {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(name, "must be a host name or an IP address"))
    }
}

//! Identifier newtypes. Each is parsed once, at the edge, and is valid from then on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why an identifier did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("tenant id must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")]
    Tenant,
    #[error("event id must be a UUID")]
    Event,
    #[error("key id must look like key_ followed by 16 lowercase hex digits")]
    Key,
    #[error("seq must be a positive integer")]
    Seq,
}

/// A tenant's slug: `[a-z0-9][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bytes = s.as_bytes();
        let ok_first = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
        if ok_first && ok_rest && bytes.len() <= 64 {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Tenant)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event's id: a UUIDv7 assigned by the server (time-ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Uuid);

impl EventId {
    /// A new time-ordered id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        Uuid::parse_str(s).map(Self).map_err(|_| IdError::Event)
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }
}

/// A key's public identifier, `key_<16 hex>`. It is part of the secret a client holds and is
/// the Basic-auth user name where a profile uses Basic auth.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let hex = s.strip_prefix("key_").ok_or(IdError::Key)?;
        if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Key)
        }
    }

    /// A fresh random key id.
    pub fn generate() -> Self {
        let bytes: [u8; 8] = rand::random();
        Self(format!("key_{}", hex::encode(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A position in a tenant's log: 1, 2, 3, … without gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seq(u64);

impl Seq {
    pub const FIRST: Seq = Seq(1);

    pub fn new(n: u64) -> Result<Self, IdError> {
        if n == 0 || n > i64::MAX as u64 {
            Err(IdError::Seq)
        } else {
            Ok(Self(n))
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// The position after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

macro_rules! string_like {
    ($t:ty, $parse:expr) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $parse(s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                $parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_like!(TenantId, TenantId::parse);
string_like!(EventId, EventId::parse);
string_like!(KeyId, KeyId::parse);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Seq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seq::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("0-acme_eu").is_ok());
        assert_eq!(TenantId::parse(""), Err(IdError::Tenant));
        assert_eq!(TenantId::parse("-acme"), Err(IdError::Tenant));
        assert_eq!(TenantId::parse("Acme"), Err(IdError::Tenant));
        assert_eq!(TenantId::parse(&"a".repeat(65)), Err(IdError::Tenant));
    }

    #[test]
    fn key_ids() {
        let k = KeyId::generate();
        assert_eq!(KeyId::parse(k.as_str()), Ok(k));
        assert!(KeyId::parse("key_0123456789abcdeF").is_err());
        assert!(KeyId::parse("kex_0123456789abcdef").is_err());
    }

    #[test]
    fn seq_is_positive() {
        assert!(Seq::new(0).is_err());
        assert_eq!(Seq::new(1).map(Seq::next).map(Seq::get), Ok(2));
    }
}

//! Serde helpers for what Docker's clients really send.
//!
//! Go encodes a nil slice or map as `null` and docker-py passes Python's `None` through for
//! almost every field it does not set, so a request body is full of `null`s where the swagger
//! promises an array, a map, a string or a bool. Every non-`Option` field of a request type
//! decodes through [`or_default`], which reads `null` as the type's zero value, exactly as Go's
//! `encoding/json` does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decodes `null` (or a missing field, with `#[serde(default)]`) as `T::default()`.
pub(crate) fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Encodes an empty list as `null`, as Go encodes the nil slices Docker leaves unset (clients
/// tell "none given" from "given empty" by it, e.g. an endpoint's `Aliases`).
pub(crate) fn empty_as_null<S, T>(v: &[T], s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// Decodes Docker's `StrSlice`: `null` → `None`, `"sh -c x"` → `Some(["sh -c x"])`, an array →
/// `Some(array)`. `None` and `Some([])` mean different things for `Entrypoint` (inherit vs
/// clear), so the distinction is kept.
pub(crate) fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// The `{}` values of Docker's set-like maps (`ExposedPorts`, `Volumes`): always written as `{}`,
/// and read from anything (`{}`, `null`, or whatever an odd client puts there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Empty)
    }
}

//! The `filters` query parameter: a JSON map from filter name to values.
//!
//! Docker accepts two encodings, `{"label":{"a=b":true}}` (current) and `{"label":["a=b"]}`
//! (old clients); both decode to the same [`Filters`].

use serde_json::Value;
use std::collections::BTreeMap;

/// Parsed filters: name → values, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, Vec<String>>,
}

/// A `filters` value that is not one of Docker's encodings.
#[derive(Debug, thiserror::Error)]
#[error("invalid filter: {0}")]
pub struct FilterError(pub String);

impl Filters {
    /// Decodes the query parameter's JSON; an empty string means no filters.
    pub fn parse(json: &str) -> Result<Filters, FilterError> {
        let mut map = BTreeMap::new();
        if json.trim().is_empty() {
            return Ok(Filters { map });
        }
        let v: Value =
            serde_json::from_str(json).map_err(|e| FilterError(format!("{json}: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(FilterError(format!("{json}: expected a JSON object")));
        };
        for (k, v) in obj {
            let values: Vec<String> = match v {
                Value::Object(m) => m
                    .into_iter()
                    .filter(|(_, on)| on.as_bool() != Some(false))
                    .map(|(s, _)| s)
                    .collect(),
                Value::Array(a) => a
                    .into_iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| FilterError(format!("{k}: values must be strings")))
                    })
                    .collect::<Result<_, _>>()?,
                other => return Err(FilterError(format!("{k}: unexpected value {other}"))),
            };
            map.insert(k, values);
        }
        Ok(Filters { map })
    }

    /// Builds filters from `key=value` strings as typed after `--filter`.
    pub fn from_cli(args: &[String]) -> Result<Filters, FilterError> {
        let mut f = Filters::default();
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                FilterError(format!("bad format of filter (expected name=value): {a}"))
            })?;
            f.add(k.trim().to_lowercase(), v.to_string());
        }
        Ok(f)
    }

    /// Adds one value.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.map.entry(key.into()).or_default().push(value.into());
    }

    /// The values given for `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Filter names present.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Refuses names outside `allowed`, with Docker's wording.
    pub fn check_names(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.keys().find(|k| !allowed.contains(k)) {
            Some(k) => Err(FilterError(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// Encodes in the current `{"name":{"value":true}}` form.
    pub fn to_json(&self) -> String {
        let obj: serde_json::Map<String, Value> = self
            .map
            .iter()
            .map(|(k, vs)| {
                (
                    k.clone(),
                    Value::Object(vs.iter().map(|v| (v.clone(), Value::Bool(true))).collect()),
                )
            })
            .collect();
        Value::Object(obj).to_string()
    }

    /// Docker's `label` filter: every `key` or `key=value` given must match.
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings_decode() {
        let a = Filters::parse(r#"{"dangling":{"true":true}}"#).unwrap();
        let b = Filters::parse(r#"{"dangling":["true"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("dangling"), ["true"]);
        assert!(a.get("label").is_empty());
    }

    #[test]
    fn roundtrips_through_json() {
        let f = Filters::from_cli(&["label=a=b".into(), "dangling=true".into()]).unwrap();
        assert_eq!(Filters::parse(&f.to_json()).unwrap(), f);
        assert_eq!(f.get("label"), ["a=b"]);
    }

    #[test]
    fn malformed_filters_are_errors() {
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
        assert!(Filters::from_cli(&["nokey".into()]).is_err());
        let f = Filters::parse(r#"{"bogus":["x"]}"#).unwrap();
        assert!(
            f.check_names(&["label"])
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }

    #[test]
    fn labels_match_keys_and_pairs() {
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "1".to_string());
        let f = Filters::from_cli(&["label=a".into()]).unwrap();
        assert!(f.labels_match("label", &labels));
        let f = Filters::from_cli(&["label=a=2".into()]).unwrap();
        assert!(!f.labels_match("label", &labels));
    }
}

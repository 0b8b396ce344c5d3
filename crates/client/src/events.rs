//! `GET /events`: the daemon's event stream.

use crate::body::Body;
use crate::error::Result;
use crate::stream::{JsonStream, json_stream};
use crate::transport::{Client, query};
use berth_api_types::Filters;
use berth_api_types::events::EventMessage;
use hyper::Method;

impl Client {
    /// `GET /events`: `since`/`until` are absolute (unix seconds with optional fraction, or
    /// RFC 3339), as the daemon accepts them. The stream ends at `until`, or never without it.
    pub async fn events(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        filters: &Filters,
    ) -> Result<JsonStream<EventMessage>> {
        let f = filters.to_json();
        let mut pairs = Vec::new();
        if let Some(s) = since {
            pairs.push(("since", s));
        }
        if let Some(u) = until {
            pairs.push(("until", u));
        }
        if !filters.is_empty() {
            pairs.push(("filters", f.as_str()));
        }
        let q = if pairs.is_empty() {
            String::new()
        } else {
            query(pairs)
        };
        let resp = self
            .send(Method::GET, &format!("/events{q}"), Body::empty())
            .await?;
        Ok(json_stream(resp.into_body()))
    }
}

//! Go templates for `--format`, with Docker's extra functions.
//!
//! Docker's CLI adds `json`, `join`, `split`, `upper`, `lower`, `title`, `truncate` and `pad` to
//! Go's builtins; templates people already use with `docker` must work unchanged. Data reaches
//! templates as JSON-shaped values, and gotmpl prints lists and maps the way Go's `fmt` does
//! (`[sh -c echo]`, `map[a:b]`), so `{{.Config.Cmd}}` looks like Docker's.

use anyhow::{Context as _, Result};
use gotmpl::{MissingKey, Template, TemplateError, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a template treats a field the data lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Print `<no value>`, as Go does for map keys (inspect output is a map).
    NoValue,
    /// Fail, as Go does for a struct field that does not exist (list rows are structs in
    /// Docker).
    Error,
}

/// Parses `src` with Docker's functions. `header` swaps the string functions for identities,
/// as Docker does when it renders a table's header row through the same template.
pub fn parse(src: &str, missing: Missing, header: bool) -> Result<Template> {
    let mk = match missing {
        Missing::NoValue => MissingKey::Invalid,
        Missing::Error => MissingKey::Error,
    };
    let mut t = Template::new("").missing_key(mk).func("pad", pad);
    t = if header {
        let first = |args: &[Value]| Ok(args.first().cloned().unwrap_or(Value::Nil));
        [
            "json", "split", "join", "title", "lower", "upper", "truncate",
        ]
        .into_iter()
        .fold(t, |t, name| t.func(name, first))
    } else {
        t.func("json", json)
            .func("split", split)
            .func("join", join)
            .func("title", |a| Ok(string(title(&arg_str(a, 0)))))
            .func("lower", |a| Ok(string(arg_str(a, 0).to_lowercase())))
            .func("upper", |a| Ok(string(arg_str(a, 0).to_uppercase())))
            .func("truncate", truncate)
    };
    t.parse(src)
        .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))
}

/// Runs a parsed template on one value.
pub fn execute(t: &Template, data: &Value) -> Result<String> {
    t.execute_to_string(data).context("template parsing error")
}

/// Converts any serializable data (a row struct, a raw `serde_json::Value`) to a template
/// value.
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value> {
    gotmpl::to_value(v).map_err(|e| anyhow::anyhow!("cannot format value: {e}"))
}

/// Converts a template value back to JSON for the `json` function.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(n) => J::from(*n),
        Value::Uint(n) => J::from(*n),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.to_string()),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        _ => J::Null,
    }
}

/// Go's `json.Marshal` output for a value: compact, with `<`, `>` and `&` escaped as Go does.
pub fn go_json(v: &serde_json::Value) -> String {
    let s = v.to_string();
    // These characters can only occur inside JSON strings, so replacing them is safe.
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn string(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

/// An argument as text: strings as they are, anything else the way the template would print it.
fn arg_str(args: &[Value], i: usize) -> String {
    match args.get(i) {
        Some(Value::String(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn arg_int(args: &[Value], i: usize, func: &str) -> gotmpl::Result<i64> {
    args.get(i).and_then(Value::as_int).ok_or_else(|| {
        TemplateError::Exec(format!("{func}: argument {} must be an integer", i + 1))
    })
}

fn json(args: &[Value]) -> gotmpl::Result<Value> {
    let v = args.first().cloned().unwrap_or(Value::Nil);
    Ok(string(go_json(&to_json(&v))))
}

fn split(args: &[Value]) -> gotmpl::Result<Value> {
    let (s, sep) = (arg_str(args, 0), arg_str(args, 1));
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| string(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(string).collect()
    };
    Ok(Value::List(parts.into()))
}

fn join(args: &[Value]) -> gotmpl::Result<Value> {
    let sep = arg_str(args, 1);
    let items: Vec<String> = match args.first() {
        Some(Value::List(l)) => l
            .iter()
            .map(|v| arg_str(std::slice::from_ref(v), 0))
            .collect(),
        Some(Value::Nil) | None => Vec::new(),
        Some(other) => {
            return Err(TemplateError::Exec(format!(
                "join: cannot join a {}",
                other.type_name()
            )));
        }
    };
    Ok(string(items.join(&sep)))
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn truncate(args: &[Value]) -> gotmpl::Result<Value> {
    let s = arg_str(args, 0);
    let n = arg_int(args, 1, "truncate")?.max(0) as usize;
    Ok(string(s.chars().take(n).collect::<String>()))
}

fn pad(args: &[Value]) -> gotmpl::Result<Value> {
    let s = arg_str(args, 0);
    if s.is_empty() {
        return Ok(string(s));
    }
    let pre = arg_int(args, 1, "pad")?.max(0) as usize;
    let post = arg_int(args, 2, "pad")?.max(0) as usize;
    Ok(string(format!(
        "{}{s}{}",
        " ".repeat(pre),
        " ".repeat(post)
    )))
}

/// A template value for a table header: field name → column title.
pub fn header_value(headers: &[(&str, &str)]) -> Value {
    let m: BTreeMap<Arc<str>, Value> = headers
        .iter()
        .map(|(k, v)| (Arc::from(*k), string(*v)))
        .collect();
    Value::Map(Arc::new(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, data: serde_json::Value) -> String {
        let t = parse(src, Missing::NoValue, false).unwrap();
        execute(&t, &to_value(&data).unwrap()).unwrap()
    }

    #[test]
    fn prints_like_go_fmt() {
        let data = json!({"Id": "sha256:abc", "Size": 123, "Config": {"Cmd": ["sh", "-c", "echo"], "Labels": {"b": "2", "a": "1"}, "Env": null}});
        assert_eq!(render("{{.Id}} {{.Size}}", data.clone()), "sha256:abc 123");
        assert_eq!(render("{{.Config.Cmd}}", data.clone()), "[sh -c echo]");
        assert_eq!(render("{{.Config.Labels}}", data.clone()), "map[a:1 b:2]");
        assert_eq!(render("{{.Config.Missing}}", data.clone()), "<no value>");
        assert_eq!(
            render("{{json .Config.Cmd}}", data.clone()),
            r#"["sh","-c","echo"]"#
        );
        assert_eq!(render("{{json .Config.Env}}", data.clone()), "null");
        assert_eq!(render("{{index .Config.Labels \"a\"}}", data), "1");
    }

    #[test]
    fn docker_functions() {
        let data = json!({"S": "Hello world", "L": ["a", "b"], "T": "<none>"});
        assert_eq!(
            render(
                "{{upper .S}}|{{lower .S}}|{{title \"foo bar\"}}",
                data.clone()
            ),
            "HELLO WORLD|hello world|Foo Bar"
        );
        assert_eq!(render("{{join .L \",\"}}", data.clone()), "a,b");
        assert_eq!(render("{{split \"a:b:c\" \":\"}}", data.clone()), "[a b c]");
        assert_eq!(
            render("{{truncate .S 5}}|{{pad .S 1 2}}|", data.clone()),
            "Hello| Hello world  |"
        );
        assert_eq!(render("{{json .T}}", data), r#""\u003cnone\u003e""#);
    }

    #[test]
    fn header_mode_keeps_names() {
        let t = parse(
            "{{.Repository | lower}}\t{{json .ID}}",
            Missing::NoValue,
            true,
        )
        .unwrap();
        let h = header_value(&[("Repository", "REPOSITORY"), ("ID", "IMAGE ID")]);
        assert_eq!(execute(&t, &h).unwrap(), "REPOSITORY\tIMAGE ID");
    }

    #[test]
    fn missing_fields_error_in_strict_mode() {
        let t = parse("{{.Nope}}", Missing::Error, false).unwrap();
        assert!(execute(&t, &to_value(&json!({"ID": "x"})).unwrap()).is_err());
        assert!(parse("{{.Nope", Missing::Error, false).is_err());
    }
}

//! Variable expansion and word splitting as Docker's builder does them, for the instructions
//! it expands (`FROM`, `ARG`, `ENV`, `LABEL`, `COPY`, `ADD`, `EXPOSE`, `USER`, `VOLUME`,
//! `WORKDIR`, `STOPSIGNAL`, `ONBUILD` is not): the results must be Docker's to the byte, or a
//! Dockerfile that builds there would build something else here.
//!
//! The rules (Docker's shell-word lexer): `$NAME` and `${NAME}` expand; `${NAME:-word}` is
//! `word` when `NAME` is unset or empty, `${NAME:+word}` is `word` when it is set and not
//! empty, `${NAME:?message}` and `${NAME?message}` fail when it is unset (the former also when
//! empty); single quotes keep everything literal, double quotes expand but keep spaces; the
//! escape character (`\`, or `` ` `` with the `escape` directive) makes the next character
//! literal outside quotes, and inside double quotes only before `"`, `$` and itself. An
//! unknown `$NAME` is empty. Word splitting happens on unquoted white space, including white
//! space an unquoted expansion brings.

use std::collections::BTreeMap;

/// Variables in scope, by name (the `ARG`s and `ENV`s defined so far).
pub type Vars = BTreeMap<String, String>;

/// Why a word could not be expanded (the message Docker gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError(pub String);

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Expands `word` to one string, quotes removed (`ENV`, `WORKDIR`, `USER`, a `COPY` source).
pub fn process_word(word: &str, vars: &Vars, escape: char) -> Result<String, ExpandError> {
    let mut lexer = Lexer::new(word, vars, escape);
    let (text, _) = lexer.until(None)?;
    Ok(text)
}

/// Expands `word` and splits the result into words on unquoted white space (`EXPOSE`,
/// `VOLUME` in its plain form).
pub fn process_words(word: &str, vars: &Vars, escape: char) -> Result<Vec<String>, ExpandError> {
    let mut lexer = Lexer::new(word, vars, escape);
    let (_, words) = lexer.until(None)?;
    Ok(words)
}

/// Splits an instruction's arguments into words as Docker's parser does before expanding them:
/// on white space outside quotes, quotes and escapes kept (they are removed by the expansion).
pub fn split_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    i += 1;
                    continue;
                }
                phase = Phase::Word;
                continue;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                }
                if ch == escape && quote != '\'' {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Splits `KEY=value ...` (or the legacy `KEY value`) into pairs, unexpanded: `ENV`, `LABEL`.
pub fn name_values(rest: &str, escape: char) -> Result<Vec<(String, String)>, ExpandError> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        // Legacy form: the first word is the name, the rest of the line its value.
        let trimmed = rest.trim_start();
        let (name, value) = trimmed
            .split_once(char::is_whitespace)
            .ok_or_else(|| ExpandError("must have two arguments".into()))?;
        return Ok(vec![(name.to_string(), value.trim_start().to_string())]);
    }
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    ExpandError(format!(
                        "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    ))
                })
        })
        .collect()
}

/// The words being built, split where unquoted white space falls.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    current: String,
    in_word: bool,
}

impl Words {
    /// An unquoted character: white space ends the word.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word {
                self.words.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.current.push(ch);
            self.in_word = true;
        }
    }

    /// A quoted or escaped character: always part of the word.
    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    /// An unquoted expansion: its white space splits too.
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    /// A quoted string: one piece of the word, even when empty.
    fn add_raw_string(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.words.push(self.current);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a Vars,
    escape: char,
}

impl<'a> Lexer<'a> {
    fn new(word: &str, vars: &'a Vars, escape: char) -> Lexer<'a> {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            vars,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Reads to `stop` (consumed) or the end: the text and its words.
    fn until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut text = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((text, words.finish()));
            }
            match ch {
                '\'' => {
                    let s = self.single_quoted()?;
                    text.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    text.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    text.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        let Some(next) = self.next() else { break };
                        text.push(next);
                        words.add_raw_char(next);
                    } else {
                        text.push(ch);
                        words.add_char(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(ExpandError(format!(
                "unexpected end of statement while looking for matching {stop}"
            )));
        }
        Ok((text, words.finish()))
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ));
                }
                Some('\'') => return Ok(s),
                Some(ch) => s.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        match self.peek() {
                            None => {
                                return Err(ExpandError(
                                    "unexpected end of statement while looking for matching double-quote"
                                        .into(),
                                ));
                            }
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                s.push(next);
                            }
                            Some(_) => s.push(ch),
                        }
                    } else {
                        s.push(ch);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if ch.is_ascii_alphanumeric() || ch == '_' {
                name.push(ch);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default().to_string());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError("syntax error: missing '}'".into())),
            Some('{' | '}' | ':') => {
                return Err(ExpandError("syntax error: bad substitution".into()));
            }
            _ => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default().to_string()),
            Some('?') => {
                let (word, _) = self.until(Some('}'))?;
                match self.lookup(&name) {
                    Some(v) => Ok(v.to_string()),
                    None => Err(ExpandError(format!(
                        "{name}: {}",
                        if word.is_empty() {
                            "is not allowed to be unset"
                        } else {
                            &word
                        }
                    ))),
                }
            }
            Some(':') => {
                let modifier = self.next();
                let (word, _) = self.until(Some('}'))?;
                let value = self.lookup(&name);
                match modifier {
                    Some('-') => Ok(match value {
                        Some(v) if !v.is_empty() => v.to_string(),
                        _ => word,
                    }),
                    Some('+') => Ok(match value {
                        Some(v) if !v.is_empty() => word,
                        _ => String::new(),
                    }),
                    Some('?') => match value {
                        None => Err(ExpandError(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        ))),
                        Some("") => Err(ExpandError(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        ))),
                        Some(v) => Ok(v.to_string()),
                    },
                    Some(m) => Err(ExpandError(format!(
                        "unsupported modifier ({m}) in substitution"
                    ))),
                    None => Err(ExpandError("syntax error: missing '}'".into())),
                }
            }
            Some(m) => Err(ExpandError(format!(
                "unsupported modifier ({m}) in substitution"
            ))),
            None => Err(ExpandError("syntax error: missing '}'".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("NAME", "berth"), ("EMPTY", ""), ("SP", "a b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(s: &str) -> Result<String, ExpandError> {
        process_word(s, &vars(), '\\')
    }

    #[test]
    fn plain_and_braced_names_expand_unknown_ones_to_nothing() {
        assert_eq!(word("$NAME/${NAME}x").unwrap(), "berth/berthx");
        assert_eq!(word("a$NOPE-b").unwrap(), "a-b");
        assert_eq!(word("cost: $").unwrap(), "cost: $");
        assert_eq!(word("$5").unwrap(), "");
    }

    #[test]
    fn modifiers_follow_docker() {
        assert_eq!(word("${NAME:-x}").unwrap(), "berth");
        assert_eq!(word("${EMPTY:-x}").unwrap(), "x");
        assert_eq!(word("${NOPE:-x}").unwrap(), "x");
        assert_eq!(word("${NAME:+x}").unwrap(), "x");
        assert_eq!(word("${EMPTY:+x}").unwrap(), "");
        assert_eq!(word("${NOPE:+x}").unwrap(), "");
        // The word is itself expanded.
        assert_eq!(word("${NOPE:-$NAME-1}").unwrap(), "berth-1");
        assert_eq!(
            word("${NOPE:?}").unwrap_err().0,
            "NOPE: is not allowed to be unset"
        );
        assert_eq!(
            word("${EMPTY:?}").unwrap_err().0,
            "EMPTY: is not allowed to be empty"
        );
        assert_eq!(word("${EMPTY?}").unwrap(), "");
        assert_eq!(word("${NOPE?need it}").unwrap_err().0, "NOPE: need it");
        assert_eq!(
            word("${NAME:=x}").unwrap_err().0,
            "unsupported modifier (=) in substitution"
        );
        assert_eq!(word("${NAME").unwrap_err().0, "syntax error: missing '}'");
        assert_eq!(word("${}").unwrap_err().0, "syntax error: bad substitution");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(word("'$NAME'").unwrap(), "$NAME");
        assert_eq!(word("\"$NAME x\"").unwrap(), "berth x");
        assert_eq!(word("\\$NAME").unwrap(), "$NAME");
        assert_eq!(word("\"a\\\"b\\$c\\n\"").unwrap(), "a\"b$c\\n");
        assert_eq!(word("it\\'s").unwrap(), "it's");
        assert!(word("'open").is_err());
        assert!(word("\"open").is_err());
        // The backtick escape of `# escape=\``.
        assert_eq!(process_word("`$NAME", &vars(), '`').unwrap(), "$NAME");
        assert_eq!(process_word("C:\\dir", &vars(), '`').unwrap(), "C:\\dir");
    }

    #[test]
    fn words_split_on_unquoted_space_including_expanded_space() {
        let w = |s: &str| process_words(s, &vars(), '\\').unwrap();
        assert_eq!(w("80/tcp  $SP"), ["80/tcp", "a", "b"]);
        assert_eq!(w("\"$SP\" ''"), ["a b", ""]);
        assert_eq!(w("x\\ y"), ["x y"]);
    }

    #[test]
    fn name_values_take_both_forms() {
        let nv = |s: &str| name_values(s, '\\').unwrap();
        assert_eq!(
            nv("A=1 B=\"two words\" C=x\\ y"),
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "\"two words\"".to_string()),
                ("C".to_string(), "x\\ y".to_string()),
            ]
        );
        assert_eq!(
            nv("LEGACY  value with spaces"),
            [("LEGACY".to_string(), "value with spaces".to_string())]
        );
        assert!(name_values("A=1 B", '\\').is_err());
        assert!(name_values("ALONE", '\\').is_err());
    }
}

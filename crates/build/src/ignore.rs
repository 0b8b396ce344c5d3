//! `.dockerignore`: which context paths the build never sees, with Docker's rules.
//!
//! One pattern per line; `#` starts a comment line; surrounding white space is trimmed; paths
//! are cleaned (`./a//b/` is `a/b`, a leading `/` is dropped) and always `/`-separated. `*`
//! matches within one path component, `?` one character, `[a-z]` a class, `**` any number of
//! components (none included), `\` escapes. A pattern that matches a directory excludes what
//! is inside it. `!pattern` takes matches back; the last matching line decides, so an
//! exception must come after the pattern it excepts (`secrets/**` then `!secrets/README`).

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `!`: a match takes the path back in.
    exception: bool,
    /// The cleaned pattern's components.
    parts: Vec<String>,
}

/// Cleans a path as Go's `filepath.Clean` does for relative paths, `/`-separated, without a
/// leading `/`: `.` components and empty ones go, `..` pops (never above the top).
fn clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p.to_string()),
        }
    }
    out
}

impl Ignore {
    /// Reads a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (exception, rest) = match l.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, l),
                };
                let parts = clean(rest);
                (!parts.is_empty()).then_some(Pattern { exception, parts })
            })
            .collect();
        Ignore { patterns }
    }

    /// Whether context path `path` (relative, `/`-separated) is left out of the build.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // The path itself, or a directory above it.
            let hit = (1..=path.len()).any(|n| matches(&p.parts, &path[..n]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether a directory must still be walked although [`Ignore::excludes`] says it is out:
    /// an exception could take something inside it back.
    pub fn may_take_back_inside(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|p| {
            p.exception
                && (p.parts.len() > dir.len() || p.parts.iter().any(|c| c == "**"))
                && prefix_compatible(&p.parts, &dir)
        })
    }
}

/// Whether the first components of `pattern` could match `dir` (for exceptions below it).
fn prefix_compatible(pattern: &[String], dir: &[String]) -> bool {
    for (i, d) in dir.iter().enumerate() {
        match pattern.get(i) {
            None => return false,
            Some(p) if p == "**" => return true,
            Some(p) if !component_matches(p, d) => return false,
            Some(_) => {}
        }
    }
    true
}

/// Whether pattern components match path components, `**` spanning any number of them.
fn matches(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => component_matches(first, p) && matches(rest, path_rest),
            None => false,
        },
    }
}

/// Shell-style match of one component: `*`, `?`, `[...]` (with `^`/`!` negation and ranges),
/// `\` escapes. (`COPY` globs match their components the same way.)
pub fn component_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n)
}

fn glob(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| glob(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && glob(&p[1..], &n[1..]),
        Some('[') => {
            let Some((&c, rest_n)) = n.split_first() else {
                return false;
            };
            match class(&p[1..], c) {
                Some((true, consumed)) => glob(&p[1 + consumed..], rest_n),
                Some((false, _)) => false,
                // An unterminated class is a literal `[`.
                None => c == '[' && glob(&p[1..], rest_n),
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob(&p[1..], &n[1..]),
    }
}

/// Matches `c` against the class starting after `[`: whether it matched, and how many pattern
/// characters the class used (its `]` included); `None` when it never closes.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^' | '!'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        let mut lo = p[i];
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        let mut hi = lo;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hi = p[i + 2];
            if hi == '\\' && i + 3 < p.len() {
                hi = p[i + 3];
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_exceptions_and_double_stars() {
        let ig = Ignore::parse(
            "# comment\n\n  *.log \n/build\nsecrets/**\n!secrets/README.md\n**/node_modules\ndocs/[a-c]?.md\n",
        );
        assert!(ig.excludes("app.log"));
        assert!(!ig.excludes("logs/app.log"), "* does not cross a /");
        assert!(ig.excludes("build"));
        assert!(ig.excludes("build/out/x.o"), "inside an excluded directory");
        assert!(ig.excludes("secrets/key.pem"));
        assert!(ig.excludes("secrets/deep/er/key"));
        assert!(!ig.excludes("secrets/README.md"), "taken back");
        assert!(ig.excludes("node_modules/x.js"));
        assert!(ig.excludes("web/app/node_modules/x.js"));
        assert!(ig.excludes("docs/b1.md"));
        assert!(!ig.excludes("docs/d1.md"));
        assert!(!ig.excludes("src/main.rs"));
        assert!(ig.may_take_back_inside("secrets"));
        assert!(!ig.may_take_back_inside("build"));
    }

    #[test]
    fn the_last_matching_line_decides() {
        let ig = Ignore::parse("!keep.txt\n*.txt\n");
        assert!(
            ig.excludes("keep.txt"),
            "an exception before the pattern is undone"
        );
        let ig = Ignore::parse("*.txt\n!keep.txt\n");
        assert!(!ig.excludes("keep.txt"));
    }

    #[test]
    fn paths_are_cleaned_and_escapes_and_classes_work() {
        let ig = Ignore::parse("./a//b/\n\\*literal\n[!x]z\n");
        assert!(ig.excludes("a/b/c"));
        assert!(ig.excludes("./a/b"));
        assert!(ig.excludes("*literal"));
        assert!(!ig.excludes("xliteral"));
        assert!(ig.excludes("yz"));
        assert!(!ig.excludes("xz"));
        assert!(!Ignore::parse("").excludes("anything"));
    }
}

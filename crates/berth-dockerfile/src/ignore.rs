//! `.dockerignore`: Docker's reading rules and its pattern matcher (patterns compiled the
//! way moby's fileutils compiles them, matched here without a regex engine).

use crate::error::{Error, Result};

/// Go's `filepath.Clean` for slash-separated paths.
pub fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(p) if *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The patterns of a `.dockerignore` file, as Docker reads them: `#` comment lines and
/// blank lines dropped, each pattern trimmed, cleaned, and made relative (leading `/`
/// removed), a leading `!` kept.
pub fn read_dockerignore(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut pat = String::new();
        if !p.is_empty() {
            let c = go_clean(p);
            pat = if c.len() > 1 && c.starts_with('/') {
                c[1..].to_string()
            } else {
                c
            };
        }
        if invert {
            pat.insert(0, '!');
        }
        out.push(pat);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one char but `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `.*`: anything (a trailing `**`).
    All,
    /// `(.*/)?` from `**` (and `**/`): skip to `to` (the token after the group) or enter.
    GroupStart {
        to: usize,
    },
    /// `[...]` as a regexp class (`^` negates).
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern without `!`.
    pub text: String,
    pub exclusion: bool,
    dirs: usize,
    toks: Vec<Tok>,
}

fn compile(pattern: &str) -> std::result::Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    toks.push(Tok::All);
                } else {
                    let start = toks.len();
                    toks.push(Tok::GroupStart { to: 0 });
                    toks.push(Tok::All);
                    toks.push(Tok::Lit('/'));
                    let to = toks.len();
                    toks[start] = Tok::GroupStart { to };
                }
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => match chars.get(i) {
                Some(c) => {
                    toks.push(Tok::Lit(*c));
                    i += 1;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let mut j = i;
                let negated = chars.get(j) == Some(&'^');
                if negated {
                    j += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let Some(&c) = chars.get(j) else {
                        return Err("syntax error in pattern".into());
                    };
                    if c == ']' && !first {
                        j += 1;
                        break;
                    }
                    first = false;
                    let mut lo = c;
                    j += 1;
                    if lo == '\\' {
                        lo = *chars.get(j).ok_or("syntax error in pattern")?;
                        j += 1;
                    }
                    let mut hi = lo;
                    if chars.get(j) == Some(&'-') && chars.get(j + 1).is_some_and(|c| *c != ']') {
                        hi = chars[j + 1];
                        j += 2;
                        if hi == '\\' {
                            hi = *chars.get(j).ok_or("syntax error in pattern")?;
                            j += 1;
                        }
                        if hi < lo {
                            return Err("syntax error in pattern".into());
                        }
                    }
                    items.push((lo, hi));
                }
                i = j;
                toks.push(Tok::Class { negated, items });
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

/// Thompson-style simulation: linear in pattern × path, whatever the pattern.
fn matches_toks(toks: &[Tok], s: &str) -> bool {
    let n = toks.len();
    let mut cur = vec![false; n + 1];
    let close = |set: &mut Vec<bool>| {
        // Epsilon moves only go forward, so one pass in order suffices.
        for i in 0..n {
            if !set[i] {
                continue;
            }
            match &toks[i] {
                Tok::Star | Tok::All => set[i + 1] = true,
                Tok::GroupStart { to } => {
                    set[i + 1] = true;
                    set[*to] = true;
                }
                _ => {}
            }
        }
    };
    cur[0] = true;
    close(&mut cur);
    for c in s.chars() {
        let mut next = vec![false; n + 1];
        for i in 0..n {
            if !cur[i] {
                continue;
            }
            match &toks[i] {
                Tok::Lit(l) if *l == c => next[i + 1] = true,
                Tok::One if c != '/' => next[i + 1] = true,
                Tok::Star if c != '/' => next[i] = true,
                Tok::All => next[i] = true,
                Tok::Class { negated, items } => {
                    let inside = items.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                    if inside != *negated {
                        next[i + 1] = true;
                    }
                }
                _ => {}
            }
        }
        close(&mut next);
        if !next.iter().any(|b| *b) {
            return false;
        }
        cur = next;
    }
    cur[n]
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        matches_toks(&self.toks, path)
    }
}

/// What to do with a path found while walking the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    Include,
    /// Excluded, and (for a directory) nothing inside can be re-included: skip it whole.
    Exclude,
    /// An excluded directory that an exception may re-include something from: walk it
    /// without sending the directory itself.
    ExcludeButDescend,
}

/// Docker's pattern matcher: later patterns win, `!` re-includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles patterns (as from [`read_dockerignore`]).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = go_clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(Error::Pattern("illegal exclusion pattern: \"!\"".into()));
                }
                exclusion = true;
                p = rest.to_string();
            }
            let toks = compile(&p).map_err(Error::Pattern)?;
            out.push(Pattern {
                dirs: p.split('/').count(),
                text: p,
                exclusion,
                toks,
            });
        }
        Ok(Matcher { patterns: out })
    }

    /// Parses a `.dockerignore` file's content.
    pub fn from_dockerignore(content: &[u8]) -> Result<Matcher> {
        Matcher::new(&read_dockerignore(content))
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded: the last
    /// pattern matching it, or one of its parent directories, decides.
    pub fn excluded(&self, path: &str) -> bool {
        let file = go_clean(path);
        let file = file.trim_start_matches('/');
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            let mut m = p.matches(file);
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                m = p.matches(&parent_dirs[..p.dirs].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether an excluded directory must still be walked because an exception pattern
    /// lies under it (Docker checks that a `!pattern` starts with `dir/`).
    pub fn must_walk(&self, dir: &str) -> bool {
        let d = go_clean(dir);
        let prefix = format!("{}/", d.trim_start_matches('/'));
        self.patterns
            .iter()
            .any(|p| p.exclusion && format!("{}/", p.text).starts_with(&prefix))
    }

    /// The decision for one walked entry.
    pub fn walk(&self, path: &str, is_dir: bool) -> Walk {
        if !self.excluded(path) {
            return Walk::Include;
        }
        if is_dir && self.must_walk(path) {
            Walk::ExcludeButDescend
        } else {
            Walk::Exclude
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_table() {
        let cases = [
            ("", "."),
            ("a/b/", "a/b"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/./b/..", "a"),
            ("..", ".."),
            ("a/..", "."),
        ];
        for (i, o) in cases {
            assert_eq!(go_clean(i), o, "{i}");
        }
    }

    #[test]
    fn read_table() {
        let f = b"\xef\xbb\xbf# comment\n\n  *.md  \n/abs/path\n!keep.md\n! spaced \ndir/\n./x/../y\n  # not a comment\n!\n";
        assert_eq!(
            read_dockerignore(f),
            vec![
                "*.md",
                "abs/path",
                "!keep.md",
                "!spaced",
                "dir",
                "y",
                "# not a comment",
                "!"
            ]
        );
    }

    fn m(p: &[&str]) -> Matcher {
        Matcher::new(p).unwrap()
    }

    #[test]
    fn match_table() {
        // (patterns, path, excluded)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*.md"], "README.md", true),
            (&["*.md"], "docs/README.md", false),
            (&["**/*.md"], "docs/README.md", true),
            (&["**/*.md"], "README.md", true),
            (&["**/*.md"], "a/b/c/README.md", true),
            (&["docs"], "docs/a/b.txt", true),
            (&["docs/*"], "docs/a/b.txt", true),
            (&["docs/*.txt"], "docs/a/b.txt", false),
            (&["node_modules"], "node_modules", true),
            (&["*", "!keep"], "keep", false),
            (&["*", "!keep"], "other", true),
            (&["*.md", "!README.md"], "README.md", false),
            (&["!README.md", "*.md"], "README.md", true),
            (&["a?c"], "abc", true),
            (&["a?c"], "a/c", false),
            (&["[a-c]x"], "bx", true),
            (&["[a-c]x"], "dx", false),
            (&["[^a-c]x"], "dx", true),
            (&["a/**"], "a/b/c", true),
            (&["a/**"], "a", false),
            (&["**"], "anything/at/all", true),
            (&["a/**/b"], "a/b", true),
            (&["a/**/b"], "a/x/y/b", true),
            (&["a/**/b"], "a/x/y/bc", false),
            (&["a\\*b"], "a*b", true),
            (&["a\\*b"], "axb", false),
            // The leading `/` is stripped when the file is read, not by the matcher.
            (&["/abs"], "abs", false),
            (&["dir/"], "dir/file", true),
            (&["*.go", "!vendor/**/*.go"], "vendor/x/y.go", false),
            (&["a.b"], "axb", false),
            (&["Dockerfile"], "Dockerfile", true),
            (&["x"], "./x", true),
        ];
        for (pats, path, want) in cases {
            assert_eq!(m(pats).excluded(path), *want, "{pats:?} {path}");
        }
    }

    #[test]
    fn from_file() {
        let mm = Matcher::from_dockerignore(b"/abs\n**/target\n!target/keep\n").unwrap();
        assert!(mm.excluded("abs"));
        assert!(mm.excluded("x/target/y"));
        assert!(!mm.excluded("target/keep"));
        assert_eq!(mm.walk("target", true), Walk::ExcludeButDescend);
    }

    #[test]
    fn walk_decisions() {
        let mm = m(&["docs", "!docs/keep.md"]);
        assert_eq!(mm.walk("docs", true), Walk::ExcludeButDescend);
        assert_eq!(mm.walk("docs/keep.md", false), Walk::Include);
        assert_eq!(mm.walk("docs/other.md", false), Walk::Exclude);
        let mm = m(&["docs", "!other/keep.md"]);
        assert_eq!(mm.walk("docs", true), Walk::Exclude);
        assert_eq!(mm.walk("src", true), Walk::Include);
        let mm = m(&["docs"]);
        assert!(!mm.has_exclusions());
        assert_eq!(mm.walk("docs", true), Walk::Exclude);
    }

    #[test]
    fn bad_patterns() {
        assert!(Matcher::new(&["!"]).is_err());
        assert!(Matcher::new(&["[a"]).is_err());
        assert!(Matcher::new(&["[]"]).is_err());
        assert!(Matcher::new(&["[z-a]"]).is_err());
    }

    #[test]
    fn no_blowup() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let path = "a".repeat(5000);
        assert!(!m(&[p]).excluded(&path));
    }
}

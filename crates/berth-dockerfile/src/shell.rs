//! The word lexer Docker applies to instruction arguments: quotes, the escape character and
//! `$VAR` / `${VAR...}` expansion, optionally splitting the result into words.

use std::collections::BTreeMap;

/// Variables visible to an expansion, by exact (case-sensitive) name.
pub type Env = BTreeMap<String, String>;

/// Builds an [`Env`] from `KEY=VALUE` strings (a missing `=` means an empty value; later
/// entries win), as container configs store them.
pub fn env_from_list<S: AsRef<str>>(list: &[S]) -> Env {
    let mut env = Env::new();
    for e in list {
        let e = e.as_ref();
        match e.split_once('=') {
            Some((k, v)) => env.insert(k.to_string(), v.to_string()),
            None => env.insert(e.to_string(), String::new()),
        };
    }
    env
}

/// An expansion failure, worded as Docker's lexer words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {source_word:?}: {message}")]
pub struct ShellError {
    pub source_word: String,
    pub message: String,
}

/// The lexer. `escape` is the Dockerfile's escape character (`\` or `` ` ``).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellLex {
    pub escape: char,
    /// Keep quote characters in the output (used to find heredoc words).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of expanding them to "".
    pub skip_unset_env: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_process_quotes: bool,
}

impl ShellLex {
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// Expands `word` as one word (spaces kept), as Docker does for ENV, LABEL, COPY... args.
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, ShellError> {
        self.process(word, env).map(|(w, _)| w)
    }

    /// Expands `word` and splits the result into words, honouring quotes.
    pub fn process_words(&self, word: &str, env: &Env) -> Result<Vec<String>, ShellError> {
        self.process(word, env).map(|(_, ws)| ws)
    }

    fn process(&self, word: &str, env: &Env) -> Result<(String, Vec<String>), ShellError> {
        let mut sw = Scanner {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        let raw = self.raw_escapes;
        sw.process_stop_on(None, raw).map_err(|message| ShellError {
            source_word: word.to_string(),
            message,
        })
    }
}

struct Scanner<'a> {
    lex: ShellLex,
    chars: Vec<char>,
    pos: usize,
    env: &'a Env,
    raw_escapes: bool,
    /// Nesting of `${...:-${...}}`, bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deepest `${a:-${b:-...}}` nesting accepted (Go's growable stacks have no such limit;
/// no real Dockerfile comes close).
const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

type LexResult<T> = Result<T, String>;

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            if ch == '$' {
                let tmp = self.process_dollar()?;
                result.push_str(&tmp);
                words.add_string(&tmp);
            } else if ch == '\'' && !self.lex.skip_process_quotes {
                let tmp = self.process_single_quote()?;
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else if ch == '"' && !self.lex.skip_process_quotes {
                let tmp = self.process_double_quote()?;
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else {
                self.pos += 1;
                let mut ch = ch;
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    match self.next() {
                        None => break,
                        Some(c) => ch = c,
                    }
                    words.add_raw_char(ch);
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // '{'
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.process_name();
        let Some(mut ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut chs = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => {
                return Ok(match self.lookup(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            ':' => {
                null_is_unset = true;
                match self.next() {
                    Some(c) => {
                        ch = c;
                        chs.push(c);
                    }
                    None => return Err("syntax error: missing '}'".into()),
                }
            }
            '+' | '-' | '?' => {}
            _ => return Err(format!("unsupported modifier ({chs}) in substitution")),
        }
        if self.depth >= MAX_DEPTH {
            return Err("syntax error: substitutions nested too deeply".into());
        }
        self.depth += 1;
        let word = self.process_stop_on(Some('}'), false);
        self.depth -= 1;
        let word = match word {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.lookup(&name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        match ch {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => match value {
                None => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if null_is_unset && v.is_empty() => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(c) = self.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        env_from_list(&[
            "PWD=/home",
            "SHELL=bash",
            "KOREAN=한국어",
            "EMPTY=",
            "SPACED=a  b",
        ])
    }

    #[test]
    fn words_table() {
        let cases: &[(&str, &str)] = &[
            ("hello", "hello"),
            ("hello${hi}bye", "hellobye"),
            ("$PWD", "/home"),
            ("${PWD}", "/home"),
            ("he'$PWD'", "he$PWD"),
            ("he\"$PWD\"", "he/home"),
            ("he\\$PWD", "he$PWD"),
            ("he\\\\$PWD", "he\\/home"),
            ("'a\\b'", "a\\b"),
            ("\"a\\b\"", "a\\b"),
            ("\"a\\\"b\"", "a\"b"),
            ("\"a\\$b\"", "a$b"),
            ("${PWD:-xx}", "/home"),
            ("${NOPE:-xx}", "xx"),
            ("${EMPTY:-xx}", "xx"),
            ("${EMPTY-xx}", ""),
            ("${NOPE-xx}", "xx"),
            ("${PWD:+xx}", "xx"),
            ("${EMPTY:+xx}", ""),
            ("${EMPTY+xx}", "xx"),
            ("${NOPE+xx}", ""),
            ("${NOPE:-$PWD/x}", "/home/x"),
            ("${NOPE:-'a b'}", "a b"),
            ("$", "$"),
            ("a$", "a$"),
            ("$1", ""),
            ("${KOREAN}", "한국어"),
            ("x\\", "x"),
            ("$PWD.x", "/home.x"),
            ("${PWD:?}", "/home"),
            ("${PWD?msg}", "/home"),
            ("${EMPTY?msg}", ""),
        ];
        let lex = ShellLex::new('\\');
        for (input, want) in cases {
            assert_eq!(
                lex.process_word(input, &env()).as_deref(),
                Ok(*want),
                "input {input}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let lex = ShellLex::new('\\');
        let ok = format!("{}x{}", "${A:-".repeat(60), "}".repeat(60));
        assert_eq!(lex.process_word(&ok, &env()).unwrap(), "x");
        let deep = format!("{}x{}", "${A:-".repeat(20_000), "}".repeat(20_000));
        let e = lex.process_word(&deep, &env()).unwrap_err();
        assert_eq!(e.message, "syntax error: substitutions nested too deeply");
    }

    #[test]
    fn quotes_kept_for_heredoc_bodies() {
        let mut lex = ShellLex::new('\\');
        lex.skip_process_quotes = true;
        assert_eq!(
            lex.process_word("echo \"$PWD\" '$SHELL'\n", &env())
                .unwrap(),
            "echo \"/home\" 'bash'\n"
        );
    }

    #[test]
    fn buildkit_modifier_cases() {
        let lex = ShellLex::new('\\');
        let env = env_from_list(&[
            "FOO=xxx",
            "BAR=",
            "ARG=x",
            "VERSION=v1",
            "OS=linux",
            "VARIANT=v7",
        ]);
        let cases = [
            ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc"),
            ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc"),
            ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb "),
            ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  "),
            ("${FOO?aaa}", "xxx"),
            ("${BAR?bbb}", ""),
            (
                "app-${VERSION}.${OS}${VARIANT:+-${VARIANT}}.tgz",
                "app-v1.linux-v7.tgz",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(lex.process_word(input, &env).unwrap(), want, "{input}");
        }
        for bad in [
            "${BAZ?ccc}",
            "${BAR:?bbb}",
            "${BAZ:?}",
            "${FOO=aaa}",
            "${FOO=}",
        ] {
            assert!(lex.process_word(bad, &env).is_err(), "{bad}");
        }
        let e = lex
            .process_word("${BAR:?message here$ARG}", &env)
            .unwrap_err();
        assert!(e.to_string().contains("message herex"), "{e}");
    }

    #[test]
    fn backtick_escape() {
        let lex = ShellLex::new('`');
        assert_eq!(lex.process_word("a`$PWD", &env()).unwrap(), "a$PWD");
        assert_eq!(lex.process_word("c:\\dir", &env()).unwrap(), "c:\\dir");
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, &str)] = &[
            ("${", "syntax error: missing '}'"),
            ("${}", "syntax error: bad substitution"),
            ("${:a}", "syntax error: bad substitution"),
            ("${a", "syntax error: missing '}'"),
            ("${a:-b", "syntax error: missing '}'"),
            ("${a#b}", "unsupported modifier (#) in substitution"),
            ("${a:=b}", "unsupported modifier (:=) in substitution"),
            (
                "'abc",
                "unexpected end of statement while looking for matching single-quote",
            ),
            (
                "\"abc",
                "unexpected end of statement while looking for matching double-quote",
            ),
            ("${NOPE:?}", "NOPE: is not allowed to be unset"),
            ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
            ("${NOPE?must be set}", "NOPE: must be set"),
        ];
        let lex = ShellLex::new('\\');
        for (input, want) in cases {
            let err = lex.process_word(input, &env()).unwrap_err();
            assert_eq!(err.message, *want, "input {input}");
            assert!(err.to_string().starts_with("failed to process"));
        }
    }

    #[test]
    fn word_splitting() {
        let lex = ShellLex::new('\\');
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("'a b' c", &["a b", "c"]),
            ("\"a $SPACED\" c", &["a a  b", "c"]),
            ("$SPACED c", &["a", "b", "c"]),
            ("a\\ b", &["a b"]),
            ("'' x", &["x"]),
            ("  ", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(lex.process_words(input, &env()).unwrap(), *want, "{input}");
        }
    }

    #[test]
    fn skip_unset_and_raw() {
        let mut lex = ShellLex::new('\\');
        lex.skip_unset_env = true;
        assert_eq!(
            lex.process_word("$NOPE ${NOPE} ${NOPE:-x} $PWD", &env())
                .unwrap(),
            "$NOPE ${NOPE} ${NOPE:-x} /home"
        );
        lex.raw_quotes = true;
        lex.raw_escapes = true;
        assert_eq!(
            lex.process_words("a 'b c' \"d\\\"\" e\\ f", &Env::new())
                .unwrap(),
            vec!["a", "'b c'", "\"d\\\"\"", "e\\ f"]
        );
    }
}

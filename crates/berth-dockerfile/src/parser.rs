//! Lines → raw nodes: parser directives, continuations, comments, flags, JSON vs shell form
//! and heredocs. Typed instructions are made from nodes in `instructions`.

use crate::shell::{Env, ShellLex};

/// Longest line bufio.Scanner accepts in Docker (64 KiB including the newline).
const MAX_LINE: usize = 64 * 1024;

/// Parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (recorded, not acted upon: there is no BuildKit frontend here).
    pub syntax: Option<String>,
    /// `# escape=`: `\` (default) or `` ` ``.
    pub escape: char,
}

impl Default for Directives {
    fn default() -> Self {
        Self {
            syntax: None,
            escape: '\\',
        }
    }
}

/// A heredoc body attached to RUN, COPY or ADD (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// File descriptor prefix (`3<<EOF`), 0 when none.
    pub fd: u32,
    /// False when the terminator was quoted (`<<"EOF"`, `<<'EOF'`): no expansion of the body.
    pub expand: bool,
    /// `<<-EOF`: leading tabs are stripped from the body and the terminator line.
    pub chomp: bool,
    /// The body as written, every line with its newline.
    pub content: String,
}

impl Heredoc {
    /// The body with leading tabs removed when `chomp` (what ends up in the file or script).
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// One instruction as the line parser sees it, before it is typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Lower-cased keyword.
    pub cmd: String,
    /// The keyword as written.
    pub cmd_raw: String,
    /// The whole logical line (continuations joined).
    pub original: String,
    pub flags: Vec<String>,
    pub args: Vec<String>,
    pub json: bool,
    pub heredocs: Vec<Heredoc>,
    pub start_line: usize,
    pub end_line: usize,
    /// ONBUILD's trigger.
    pub sub: Option<Box<Node>>,
}

impl Node {
    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.cmd[..], &self.sub) {
            ("onbuild", Some(sub)) => sub,
            _ => self,
        };
        matches!(&node.cmd[..], "run" | "copy" | "add") && !node.json
    }
}

#[derive(Debug)]
pub(crate) struct ParsedLines {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<String>,
}

/// An error before nodes are typed: (line, text, message).
pub(crate) type LineError = (usize, String, String);

struct DirectiveState {
    d: Directives,
    done: bool,
    seen_escape: bool,
    seen_syntax: bool,
}

impl DirectiveState {
    fn possible(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = match_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        let seen = match &key[..] {
            "escape" => &mut self.seen_escape,
            "syntax" => &mut self.seen_syntax,
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if *seen {
            return Err(format!("only one {key} parser directive can be used"));
        }
        *seen = true;
        if key == "escape" {
            if value != "`" && value != "\\" {
                return Err(format!(
                    "invalid escape token '{value}' does not match ` or \\"
                ));
            }
            self.d.escape = value.chars().next().unwrap_or('\\');
        } else {
            self.d.syntax = Some(value);
        }
        Ok(())
    }
}

fn is_re_space(c: char) -> bool {
    // RE2's \s: [\t\n\f\r ]
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn match_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(is_re_space);
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let end = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let key = &rest[..end];
    let rest = rest[end..].trim_start_matches(is_re_space);
    let after = rest.strip_prefix('=')?;
    if after.is_empty() {
        return None;
    }
    let value = after.trim_matches(is_re_space);
    if value.is_empty() {
        // `.+?` takes the last blank when there is nothing else.
        return Some((key.to_string(), after.chars().last()?.to_string()));
    }
    Some((key.to_string(), value.to_string()))
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(raw: &str) -> bool {
    trim_newline(raw).trim_start().starts_with('#')
}

/// Docker's `([^E])E[ \t]*$|^E[ \t]*$`: a trailing escape char not itself escaped.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

fn process_line(ds: &mut DirectiveState, raw: &str, strip_left: bool) -> Result<String, String> {
    let mut token = trim_newline(raw);
    if strip_left {
        token = token.trim_start();
    }
    ds.possible(token)?;
    if token.starts_with('#') {
        return Ok(String::new());
    }
    Ok(token.to_string())
}

/// Splits the input into lines that keep their `\n`.
fn split_lines(src: &str) -> Vec<&str> {
    src.split_inclusive('\n').collect()
}

pub(crate) fn parse_lines(src: &str) -> Result<ParsedLines, LineError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines = split_lines(src);
    for (i, l) in lines.iter().enumerate() {
        if l.len() > MAX_LINE {
            return Err((
                i + 1,
                l.chars().take(80).collect(),
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
            ));
        }
    }
    let mut ds = DirectiveState {
        d: Directives::default(),
        done: false,
        seen_escape: false,
        seen_syntax: false,
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    let mut current = 0usize;
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let processed = process_line(&mut ds, raw, true)
            .map_err(|m| (current + 1, trim_newline(raw).to_string(), m))?;
        current += 1;
        let start = current;
        let (mut line, mut eol) = trim_continuation(&processed, ds.d.escape);
        if eol && line.is_empty() {
            continue;
        }
        let mut has_empty = false;
        while !eol && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let processed = process_line(&mut ds, raw, false)
                .map_err(|m| (current + 1, trim_newline(raw).to_string(), m))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                has_empty = true;
                continue;
            }
            let (cl, e) = trim_continuation(&processed, ds.d.escape);
            eol = e;
            line.push_str(&cl);
        }
        if has_empty {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }
        let mut node = node_from_line(&line, ds.d.escape).map_err(|m| (start, line.clone(), m))?;
        if node.can_contain_heredoc() {
            let docs = heredocs_from_line(&line).map_err(|m| (start, line.clone(), m))?;
            for mut doc in docs {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err((start, line.clone(), "unterminated heredoc".into()));
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if !warnings.is_empty() {
        warnings.push(
            "[WARNING]: Empty continuation lines will become errors in a future release.".into(),
        );
    }
    if nodes.is_empty() {
        return Err((
            current.max(1),
            String::new(),
            "file with no instructions".into(),
        ));
    }
    Ok(ParsedLines {
        directives: ds.d,
        nodes,
        warnings,
    })
}

fn is_token_ws(c: char) -> bool {
    // [\t\v\f\r ]
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of `[\t\v\f\r ]`, like Go's regexp Split(s, n).
fn split_ws(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while out.len() + 1 < n {
        match rest.find(is_token_ws) {
            Some(pos) => {
                out.push(&rest[..pos]);
                rest = rest[pos..].trim_start_matches(is_token_ws);
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

pub(crate) fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    node_from_line_at(line, escape, false)
}

/// `nested`: parsing an ONBUILD trigger, whose own ONBUILD (refused later anyway) is not
/// parsed further, so recursion stays one level deep whatever the input.
fn node_from_line_at(line: &str, escape: char, nested: bool) -> Result<Node, String> {
    let trimmed = line.trim();
    let parts = split_ws(trimmed, 2);
    let cmd_raw = parts[0].to_string();
    let cmd = cmd_raw.to_lowercase();
    let (rest, flags) = if parts.len() == 2 {
        extract_builder_flags(parts[1])
    } else {
        (String::new(), Vec::new())
    };
    let rest = rest.trim().to_string();
    let mut node = Node {
        cmd,
        cmd_raw,
        original: line.to_string(),
        flags,
        args: Vec::new(),
        json: false,
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
        sub: None,
    };
    match &node.cmd[..] {
        "add" | "copy" | "volume" => {
            (node.args, node.json) = parse_maybe_json_to_list(&rest)?;
        }
        "arg" => node.args = parse_words(&rest, escape),
        "cmd" | "entrypoint" | "run" | "shell" => {
            (node.args, node.json) = parse_maybe_json(&rest)?;
        }
        "env" => node.args = parse_name_val(&rest, "ENV", escape)?,
        "label" => node.args = parse_name_val(&rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_whitespace_list(&rest),
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                let typ = &rest[..sep];
                let after = rest[sep..].trim_start();
                let (args, json) = parse_maybe_json(after)?;
                node.args.push(typ.to_string());
                node.args.extend(args);
                node.json = json;
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.clone()];
        }
        "onbuild" if nested => node.args = vec![rest.clone()],
        "onbuild" if !rest.is_empty() => {
            let child = node_from_line_at(&rest, escape, true)?;
            node.args.push(child.cmd.clone());
            node.args.extend(child.args.iter().cloned());
            node.sub = Some(Box::new(child));
        }
        _ => {}
    }
    Ok(node)
}

fn split_whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, usize::MAX)
        .into_iter()
        .map(str::to_string)
        .collect()
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(Some(..))` for a JSON array of strings, `Ok(None)` when not JSON at all.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match v {
            serde_json::Value::String(s) => out.push(s),
            _ => return Err(NOT_STRING_ARRAY.into()),
        }
    }
    Ok(Some(out))
}

fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((vec![rest.to_string()], false)),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((split_whitespace_list(rest), false)),
    }
}

/// Splits on blanks, keeping quotes and escapes in the words (they are processed by the
/// expansion later).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // in quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// ENV / LABEL: `KEY value...` (old form) or `k=v k2="a b"`. Returns key, value pairs
/// flattened.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].to_string(), parts[1].to_string()]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
    }
    Ok(out)
}

/// The leading `--flag[=value]` words of an instruction, and what follows them.
fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    let rest_from = |pos: usize| chars[pos..].iter().collect::<String>();
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || pos + 1 == chars.len() || chars[pos + 1] != '-' {
                return (rest_from(pos), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == '\\' {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == '\\' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

/// `^(\d*)<<(-?)([^<]*)$`
fn match_heredoc_word(word: &str) -> Option<(u32, bool, &str)> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let after = word[digits_end..].strip_prefix("<<")?;
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.contains('<') {
        return None;
    }
    let fd = word[..digits_end].parse::<u32>().unwrap_or(0);
    Some((fd, chomp, rest))
}

/// The heredoc a single word opens, if any (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let Some((fd, chomp, rest)) = match_heredoc_word(word) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let mut lex = ShellLex::new('\\');
    lex.skip_unset_env = true;
    let env = Env::new();
    let words = lex.process_words(rest, &env).map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &env).map_err(|e| e.to_string())?;
    if raw.len() != 1 {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd,
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = ShellLex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &Env::new()).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(d) = parse_heredoc(&w)? {
            docs.push(d);
        }
    }
    Ok(docs)
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;

//! Typed instructions, made from parser nodes with Docker's argument rules and messages.

use std::time::Duration;

use crate::parser::{parse_heredoc, Heredoc, Node};

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based first line.
    pub line: usize,
    /// Last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// The logical line as written (continuations joined), for history and errors.
    pub original: String,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From(From),
    Maintainer(String),
    Run(Run),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Expose(Vec<String>),
    Add(CopyCommand),
    Copy(CopyCommand),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    OnBuild(OnBuild),
}

impl Command {
    /// The keyword, upper case.
    pub fn name(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Env(_) => "ENV",
            Command::Label(_) => "LABEL",
            Command::Arg(_) => "ARG",
            Command::Expose(_) => "EXPOSE",
            Command::Add(_) => "ADD",
            Command::Copy(_) => "COPY",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Volume(_) => "VOLUME",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Shell(_) => "SHELL",
            Command::OnBuild(_) => "ONBUILD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// Image reference, `scratch` or an earlier stage's name/index, not yet expanded.
    pub base: String,
    /// Stage name (`AS name`), lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub key: String,
    /// `None` for `ARG NAME` without a default.
    pub value: Option<String>,
}

/// The argument of RUN / CMD / ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdLine {
    /// Exec form: the argv. Shell form: one string, to run with the stage's SHELL.
    pub args: Vec<String>,
    /// True for the shell form.
    pub prepend_shell: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmd: CmdLine,
    /// Heredoc bodies used by the command (`RUN <<EOF`).
    pub heredocs: Vec<Heredoc>,
}

/// Inline file content of `COPY <<EOF /dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    pub path: String,
    /// The body (tabs already stripped for `<<-`).
    pub data: String,
    /// Whether variables in `data` are expanded (unquoted terminator).
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCommand {
    pub sources: Vec<String>,
    pub contents: Vec<SourceContent>,
    pub dest: String,
    /// `--from=` (COPY only): stage name, index or image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// Exec (JSON) form was used.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Cmd(HealthConfig),
}

/// As Docker's container.HealthConfig: zero means "inherit / default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["CMD", argv...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBuild {
    /// The trigger as stored in the image config (`RUN echo hi`).
    pub expression: String,
    /// The trigger parsed now, when it parses (Docker only checks it when it fires).
    pub trigger: Option<Box<Instruction>>,
}

type R<T> = Result<T, String>;

/// Docker's BFlags: a fixed set of `--name=value` flags per instruction.
struct Flags<'a> {
    args: &'a [String],
    known: Vec<(&'static str, bool)>, // (name, is_bool)
    values: Vec<(String, String)>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Self {
            args,
            known: Vec::new(),
            values: Vec::new(),
        }
    }
    fn string(mut self, name: &'static str) -> Self {
        self.known.push((name, false));
        self
    }
    fn parse(mut self) -> R<Self> {
        for arg in self.args {
            let Some(a) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            if a.is_empty() {
                break;
            }
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            let Some(&(_, is_bool)) = self.known.iter().find(|(k, _)| *k == name) else {
                return Err(format!("Unknown flag: {name}"));
            };
            if self.values.iter().any(|(k, _)| k == name) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let value = if is_bool {
                match value.map(str::to_lowercase) {
                    Some(v) if v.is_empty() => {
                        return Err(format!("Missing a value on flag: {name}"))
                    }
                    None => "true".to_string(),
                    Some(v) if v == "true" || v == "false" => v,
                    Some(_) => {
                        return Err(format!(
                            "Expecting boolean value for flag {name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                }
            } else {
                match value {
                    Some(v) => v.to_string(),
                    None => return Err(format!("Missing a value on flag: {name}")),
                }
            };
            self.values.push((name.to_string(), value));
        }
        Ok(self)
    }
    fn get(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
    fn get_nonempty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}
fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}
fn blank_names(cmd: &str) -> String {
    format!("{cmd} names can not be blank")
}

fn handle_json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn kvps(args: &[String], cmd: &str) -> R<Vec<KeyValue>> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if args.len() % 2 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    args.chunks(2)
        .map(|c| {
            if c[0].is_empty() {
                Err(blank_names(cmd))
            } else {
                Ok(KeyValue {
                    key: c[0].clone(),
                    value: c[1].clone(),
                })
            }
        })
        .collect()
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Go's time.ParseDuration, to a non-negative duration (negative values are reported as
/// below the minimum by the caller, so they come back as `Err(None)`).
pub(crate) fn parse_go_duration(s: &str) -> Result<Option<Duration>, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_end];
        rest = &rest[int_end..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let fe = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            frac_part = &r[..fe];
            rest = &r[fe..];
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
        } else if int_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let nanos_per: f64 = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        let number: f64 = format!(
            "{}.{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac_part.is_empty() { "0" } else { frac_part }
        )
        .parse()
        .map_err(|_| invalid())?;
        total += number * nanos_per;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    if neg && total > 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_nanos(total as u64)))
}

fn opt_interval(flags: &Flags<'_>, name: &str) -> R<Duration> {
    let Some(v) = flags.get_nonempty(name) else {
        return Ok(Duration::ZERO);
    };
    match parse_go_duration(&v)? {
        Some(d) if d >= Duration::from_millis(1) => Ok(d),
        _ => Err(format!("Interval {name:?} cannot be less than 1ms")),
    }
}

fn sources_and_dest(node: &Node, cmd: &str) -> R<(Vec<String>, Vec<SourceContent>, String)> {
    let (srcs, dest) = node.args.split_at(node.args.len() - 1);
    let dest = dest[0].clone();
    if !node.json && parse_heredoc(&dest).ok().flatten().is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut contents = Vec::new();
    for src in srcs {
        let doc = if node.json {
            None
        } else {
            parse_heredoc(src).ok().flatten()
        };
        match doc {
            Some(h) => {
                let body = node.heredocs.iter().find(|d| d.name == h.name);
                let data = match body {
                    Some(b) if h.chomp => Heredoc {
                        chomp: true,
                        ..b.clone()
                    }
                    .text(),
                    Some(b) => b.content.clone(),
                    None => String::new(),
                };
                contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok((sources, contents, dest))
}

/// Types one node; the message has no location (the caller adds it).
pub(crate) fn parse_node(node: &Node) -> R<Command> {
    let args = &node.args;
    let flags = || Flags::new(&node.flags);
    Ok(match &node.cmd[..] {
        "env" => {
            flags().parse()?;
            Command::Env(kvps(args, "ENV")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            flags().parse()?;
            Command::Maintainer(args[0].clone())
        }
        "label" => {
            flags().parse()?;
            Command::Label(kvps(args, "LABEL")?)
        }
        "add" | "copy" => {
            let name = node.cmd.to_uppercase();
            if args.len() < 2 {
                return Err(format!("{name} requires at least two arguments, but only one was provided. Destination could not be determined."));
            }
            let mut f = flags().string("chown").string("chmod");
            if name == "COPY" {
                f = f.string("from");
            }
            let f = f.parse()?;
            let (sources, contents, dest) = sources_and_dest(node, &name)?;
            let c = CopyCommand {
                sources,
                contents,
                dest,
                from: f.get_nonempty("from"),
                chown: f.get_nonempty("chown"),
                chmod: f.get_nonempty("chmod"),
                json: node.json,
            };
            if name == "COPY" {
                Command::Copy(c)
            } else {
                Command::Add(c)
            }
        }
        "from" => {
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let n = args[2].to_lowercase();
                    if !is_valid_stage_name(&n) {
                        return Err(format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", args[2]));
                    }
                    Some(n)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let f = flags().string("platform").parse()?;
            Command::From(From {
                base: args[0].clone(),
                name,
                platform: f.get_nonempty("platform"),
            })
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            flags().parse()?;
            let trigger = args[0].trim().to_uppercase();
            match &trigger[..] {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let mut expression = strip_onbuild(&node.original);
            for h in &node.heredocs {
                expression.push('\n');
                expression.push_str(&h.content);
                expression.push_str(&h.name);
            }
            let parsed = node.sub.as_ref().and_then(|sub| {
                let mut sub = (**sub).clone();
                sub.heredocs = node.heredocs.clone();
                parse_node(&sub).ok().map(|command| {
                    Box::new(Instruction {
                        line: node.start_line,
                        end_line: node.end_line,
                        original: expression.clone(),
                        command,
                    })
                })
            });
            Command::OnBuild(OnBuild {
                expression,
                trigger: parsed,
            })
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            flags().parse()?;
            Command::Workdir(args[0].clone())
        }
        "run" => {
            flags().parse()?;
            Command::Run(Run {
                cmd: CmdLine {
                    args: handle_json_args(args, node.json),
                    prepend_shell: !node.json,
                },
                heredocs: node.heredocs.clone(),
            })
        }
        "cmd" => {
            flags().parse()?;
            Command::Cmd(CmdLine {
                args: handle_json_args(args, node.json),
                prepend_shell: !node.json,
            })
        }
        "entrypoint" => {
            flags().parse()?;
            Command::Entrypoint(CmdLine {
                args: handle_json_args(args, node.json),
                prepend_shell: !node.json,
            })
        }
        "healthcheck" => {
            if args.is_empty() {
                return Err(at_least_one("HEALTHCHECK"));
            }
            let typ = args[0].to_uppercase();
            let rest = &args[1..];
            if typ == "NONE" {
                if !rest.is_empty() {
                    return Err("HEALTHCHECK NONE takes no arguments".into());
                }
                Command::Healthcheck(Healthcheck::None)
            } else {
                let f = flags()
                    .string("interval")
                    .string("timeout")
                    .string("start-period")
                    .string("retries")
                    .parse()?;
                if typ != "CMD" {
                    return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
                }
                let cmd = handle_json_args(rest, node.json);
                if cmd.is_empty() {
                    return Err("Missing command after HEALTHCHECK CMD".into());
                }
                let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
                test.extend(cmd);
                let interval = opt_interval(&f, "interval")?;
                let timeout = opt_interval(&f, "timeout")?;
                let start_period = opt_interval(&f, "start-period")?;
                let retries = match f.get_nonempty("retries") {
                    None => 0,
                    Some(v) => {
                        let n: i64 = v
                            .parse::<i32>()
                            .map_err(|_| {
                                format!("strconv.ParseInt: parsing {v:?}: invalid syntax")
                            })?
                            .into();
                        if n < 1 {
                            return Err(format!("--retries must be at least 1 (not {n})"));
                        }
                        n as u32
                    }
                };
                Command::Healthcheck(Healthcheck::Cmd(HealthConfig {
                    test,
                    interval,
                    timeout,
                    start_period,
                    retries,
                }))
            }
        }
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags().parse()?;
            let mut ports = args.clone();
            ports.sort();
            Command::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            flags().parse()?;
            Command::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags().parse()?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Command::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Command::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            flags().parse()?;
            let mut decls = Vec::new();
            for a in args {
                decls.push(match a.split_once('=') {
                    Some(("", _)) => return Err(blank_names("ARG")),
                    Some((k, v)) => ArgDecl {
                        key: k.to_string(),
                        value: Some(v.to_string()),
                    },
                    None => ArgDecl {
                        key: a.clone(),
                        value: None,
                    },
                });
            }
            Command::Arg(decls)
        }
        "shell" => {
            flags().parse()?;
            let shell = handle_json_args(args, node.json);
            if shell.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Command::Shell(shell)
        }
        _ => {
            return Err(format!(
                "unknown instruction: {}",
                node.cmd_raw.to_uppercase()
            ))
        }
    })
}

fn strip_onbuild(original: &str) -> String {
    let t = original.trim_start();
    let rest = match t.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => &t[7..],
        _ => t,
    };
    rest.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("1s", 1_000_000_000),
            ("1.5s", 1_500_000_000),
            ("1m30s", 90_000_000_000),
            ("10ms", 10_000_000),
            ("1h", 3_600_000_000_000),
            (".5s", 500_000_000),
            ("100us", 100_000),
            ("3ns", 3),
        ];
        for (s, n) in ok {
            assert_eq!(
                parse_go_duration(s),
                Ok(Some(Duration::from_nanos(*n))),
                "{s}"
            );
        }
        assert_eq!(parse_go_duration("-1s"), Ok(None));
        assert_eq!(
            parse_go_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_go_duration("1x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        for bad in ["", "s", ".s", "abc", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_names() {
        for good in ["a", "build-1", "a.b_c"] {
            assert!(is_valid_stage_name(good));
        }
        for bad in ["", "1a", "a$", "-a", "A"] {
            assert!(!is_valid_stage_name(bad));
        }
    }
}

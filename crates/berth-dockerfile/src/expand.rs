//! Docker's ARG/ENV scoping and which instruction arguments are expanded.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::instructions::{ArgDecl, Command, Instruction, KeyValue};
use crate::shell::{Env, ShellError, ShellLex};

/// Usable without an ARG declaration when given with `--build-arg`, and left out of the
/// image history (as Docker does).
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Build args as Docker's legacy builder tracks them: values from `--build-arg`, the
/// global (pre-FROM) ARGs, and the ARGs declared in the current stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    options: BTreeMap<String, String>,
    meta: BTreeMap<String, Option<String>>,
    allowed: BTreeMap<String, Option<String>>,
    referenced: BTreeSet<String>,
}

impl BuildArgs {
    pub fn new(options: BTreeMap<String, String>) -> Self {
        Self {
            options,
            ..Default::default()
        }
    }

    fn get(&self, key: &str, mapping: &BTreeMap<String, Option<String>>) -> Option<String> {
        if let Some(v) = self.options.get(key) {
            return Some(v.clone());
        }
        match mapping.get(key) {
            Some(Some(v)) => Some(v.clone()),
            _ => self.meta.get(key).cloned().flatten(),
        }
    }

    fn all_from(&self, mapping: &BTreeMap<String, Option<String>>) -> Env {
        let mut env = Env::new();
        let keys = mapping
            .keys()
            .map(String::as_str)
            .chain(PROXY_ARGS.iter().copied());
        for k in keys {
            if let Some(v) = self.get(k, mapping) {
                env.insert(k.to_string(), v);
            }
        }
        env
    }

    /// Global ARGs (and proxy args) with their values: what FROM lines see.
    pub fn meta_env(&self) -> Env {
        self.all_from(&self.meta)
    }

    /// Args declared in this stage (and proxy args) with their values.
    pub fn allowed_env(&self) -> Env {
        self.all_from(&self.allowed)
    }

    /// Declares an ARG before the first FROM: expanded with earlier ones.
    pub fn add_meta_arg(&mut self, lex: &ShellLex, decl: &ArgDecl) -> Result<(), String> {
        let env = self.allowed_env();
        let d = expand_arg(lex, decl, &env).map_err(|e| e.to_string())?;
        self.declare(&d.key, d.value.clone());
        self.meta.insert(d.key, d.value);
        Ok(())
    }

    /// Declares an ARG in the current stage (already expanded).
    pub fn declare(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_string(), value);
        self.referenced.insert(key.to_string());
    }

    /// A fresh scope for a stage: global ARGs are kept (for `ARG NAME` re-declarations),
    /// declared ones are not.
    pub fn for_stage(&self) -> BuildArgs {
        let mut b = self.clone();
        b.allowed.clear();
        b
    }

    /// Declared args whose name is not already in `env` (ENV wins over ARG): what RUN
    /// sees on top of the config env, and what is added to expansions.
    pub fn filter_allowed(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        self.allowed_env()
            .into_iter()
            .filter(|(k, _)| !env.iter().any(|(ek, _)| ek == k))
            .collect()
    }

    /// `--build-arg` names no ARG consumed (Docker warns about them).
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

fn expand_arg(lex: &ShellLex, d: &ArgDecl, env: &Env) -> Result<ArgDecl, ShellError> {
    Ok(ArgDecl {
        key: lex.process_word(&d.key, env)?,
        value: match &d.value {
            Some(v) => Some(lex.process_word(v, env)?),
            None => None,
        },
    })
}

fn expand_kvs(lex: &ShellLex, kvs: &[KeyValue], env: &Env) -> Result<Vec<KeyValue>, ShellError> {
    kvs.iter()
        .map(|kv| {
            Ok(KeyValue {
                key: lex.process_word(&kv.key, env)?,
                value: lex.process_word(&kv.value, env)?,
            })
        })
        .collect()
}

fn expand_all(lex: &ShellLex, v: &[String], env: &Env) -> Result<Vec<String>, ShellError> {
    v.iter().map(|s| lex.process_word(s, env)).collect()
}

fn expand_opt(lex: &ShellLex, v: &Option<String>, env: &Env) -> Result<Option<String>, ShellError> {
    v.as_ref().map(|s| lex.process_word(s, env)).transpose()
}

/// The command with the arguments Docker expands expanded (ENV, LABEL, ARG, ADD, COPY
/// and their unquoted heredoc bodies,
/// EXPOSE, WORKDIR, USER, VOLUME, STOPSIGNAL; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
/// MAINTAINER and ONBUILD are kept as written). FROM and `COPY --from` are expanded with
/// global args only, by [`crate::Dockerfile::graph`], so they are kept here.
pub fn expand_command(lex: &ShellLex, cmd: &Command, env: &Env) -> Result<Command, ShellError> {
    Ok(match cmd {
        Command::Env(kvs) => Command::Env(expand_kvs(lex, kvs, env)?),
        Command::Label(kvs) => Command::Label(expand_kvs(lex, kvs, env)?),
        Command::Arg(decls) => Command::Arg(
            decls
                .iter()
                .map(|d| expand_arg(lex, d, env))
                .collect::<Result<_, _>>()?,
        ),
        Command::Add(c) | Command::Copy(c) => {
            let mut c = c.clone();
            c.sources = expand_all(lex, &c.sources, env)?;
            c.dest = lex.process_word(&c.dest, env)?;
            c.chown = expand_opt(lex, &c.chown, env)?;
            c.chmod = expand_opt(lex, &c.chmod, env)?;
            // As BuildKit: a backslash lexer whatever the file's escape, quotes untouched.
            let mut body_lex = ShellLex::new('\\');
            body_lex.skip_process_quotes = true;
            for content in c.contents.iter_mut().filter(|s| s.expand) {
                content.data = body_lex.process_word(&content.data, env)?;
            }
            if matches!(cmd, Command::Add(_)) {
                Command::Add(c)
            } else {
                Command::Copy(c)
            }
        }
        Command::Expose(p) => Command::Expose(expand_all(lex, p, env)?),
        Command::Workdir(p) => Command::Workdir(lex.process_word(p, env)?),
        Command::User(u) => Command::User(lex.process_word(u, env)?),
        Command::Volume(v) => Command::Volume(expand_all(lex, v, env)?),
        Command::StopSignal(s) => Command::StopSignal(lex.process_word(s, env)?),
        other => other.clone(),
    })
}

/// Walks one stage's instructions as the builder dispatches them: each is expanded with
/// the env in effect, then ENV and ARG change that env.
#[derive(Debug, Clone)]
pub struct StageScope {
    lex: ShellLex,
    file: String,
    env: Vec<(String, String)>,
    args: BuildArgs,
}

impl StageScope {
    /// `base_env` is the base image's `Config.Env` (`KEY=VALUE`); `args` comes from
    /// [`crate::Dockerfile::build_args`] (its stage scope is taken here). The lexer and
    /// the file name (for errors) are the Dockerfile's.
    pub fn new<S: AsRef<str>>(df: &crate::Dockerfile, base_env: &[S], args: &BuildArgs) -> Self {
        let mut s = Self {
            lex: df.lexer(),
            file: df.file.clone(),
            env: Vec::new(),
            args: args.for_stage(),
        };
        for e in base_env {
            let e = e.as_ref();
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            s.set_env(k, v);
        }
        s
    }

    fn set_env(&mut self, k: &str, v: &str) {
        match self.env.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.to_string(),
            None => self.env.push((k.to_string(), v.to_string())),
        }
    }

    /// What `$VAR` sees now: config env plus declared args not shadowed by it.
    pub fn expansion_env(&self) -> Env {
        let mut env: Env = self.env.iter().cloned().collect();
        env.extend(self.args.filter_allowed(&self.env));
        env
    }

    /// The config env (`KEY=VALUE`, in order).
    pub fn env(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Build args in effect that RUN gets in its environment (not in the image config).
    pub fn run_args(&self) -> Vec<(String, String)> {
        self.args.filter_allowed(&self.env)
    }

    pub fn build_args(&self) -> &BuildArgs {
        &self.args
    }

    /// Expands `ins` and applies its effect on the scope (ENV sets, ARG declares). An
    /// expansion error names the file, the instruction's line and its text.
    pub fn step(&mut self, ins: &Instruction) -> Result<Instruction, Error> {
        let env = self.expansion_env();
        let command = expand_command(&self.lex, &ins.command, &env)
            .map_err(|e| Error::syntax(&self.file, ins.line, &ins.original, e.to_string()))?;
        match &command {
            Command::Env(kvs) => {
                for kv in kvs {
                    self.set_env(&kv.key, &kv.value);
                }
            }
            Command::Arg(decls) => {
                for d in decls {
                    self.args.declare(&d.key, d.value.clone());
                }
            }
            _ => {}
        }
        Ok(Instruction {
            command,
            ..ins.clone()
        })
    }
}

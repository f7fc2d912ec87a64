//! Dockerfile front end: everything about a Dockerfile that needs no I/O, so the builder
//! only executes and the rules can be tested (and fuzzed) on their own.
//!
//! Docker's behaviour is the specification (dockerd 20.10's legacy builder and the
//! BuildKit parser it vendors): the parser keeps each instruction's original text and
//! line for history and errors, and errors carry Docker's wording. Expansion is not done
//! at parse time because its inputs (the base image's ENV, `--build-arg` values) are only
//! known while building: the builder creates a [`StageScope`] per stage and calls
//! [`StageScope::step`] on each instruction, which both expands it and tracks ENV/ARG the
//! way Docker scopes them. Stage bases and `COPY --from` depend on global ARGs only, so
//! [`Dockerfile::graph`] resolves them up front and tells which stages a target needs.
//! [`ignore::Matcher`] decides what of the context is sent and walked.
#![forbid(unsafe_code)]

mod dockerfile;
mod error;
pub mod expand;
pub mod ignore;
mod instructions;
mod parser;
pub mod shell;

#[cfg(test)]
mod tests;

pub use dockerfile::{Base, CopySource, Dockerfile, Stage, StageGraph};
pub use error::{Error, Result, SyntaxError};
pub use expand::{expand_command, BuildArgs, StageScope, PROXY_ARGS};
pub use ignore::{Matcher, Walk};
pub use instructions::{
    ArgDecl, CmdLine, Command, CopyCommand, From, HealthConfig, Healthcheck, Instruction, KeyValue,
    OnBuild, Run, SourceContent,
};
pub use parser::{parse_heredoc, Directives, Heredoc};
pub use shell::{env_from_list, Env, ShellError, ShellLex};

/// Parses one instruction line on its own, e.g. an ONBUILD trigger read from a base
/// image's config when a child image is built.
pub fn parse_instruction(line: &str, escape: char, file: &str) -> Result<Instruction> {
    let node = parser::node_from_line(line, escape).map_err(|m| Error::syntax(file, 1, line, m))?;
    let command = instructions::parse_node(&node).map_err(|m| Error::syntax(file, 1, line, m))?;
    Ok(Instruction {
        line: 1,
        end_line: 1,
        original: line.trim().to_string(),
        command,
    })
}

//! The parsed file: global ARGs, stages, and the stage graph.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::expand::BuildArgs;
use crate::instructions::{parse_node, ArgDecl, Command, Instruction};
use crate::parser::{parse_lines, Directives};
use crate::shell::ShellLex;

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name errors use (`Dockerfile`, the `-f` path...).
    pub file: String,
    pub directives: Directives,
    /// ARG instructions before the first FROM (each one instruction, maybe several args).
    pub global_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
    /// Docker's parser warnings (empty continuation lines).
    pub warnings: Vec<String>,
}

/// One `FROM` and the instructions up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base as written (expanded with global args by [`Dockerfile::graph`]).
    pub base: String,
    pub platform: Option<String>,
    /// The FROM instruction itself.
    pub from: Instruction,
    pub instructions: Vec<Instruction>,
}

/// What a stage starts from, once global args are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage.
    Stage(usize),
    Image(String),
}

/// A `COPY --from` source, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    Stage(usize),
    Image(String),
}

/// Stages with their bases and dependencies resolved for one set of build args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    /// Per stage: its base.
    pub bases: Vec<Base>,
    /// Per stage: its platform after expansion.
    pub platforms: Vec<Option<String>>,
    /// Per stage: `COPY --from` sources, keyed by the instruction's line.
    pub copy_from: Vec<Vec<(usize, CopySource)>>,
    names: Vec<Option<String>>,
}

impl Dockerfile {
    /// Parses a Dockerfile. `file` is only used in error messages.
    pub fn parse(src: &[u8], file: &str) -> Result<Dockerfile> {
        let text = String::from_utf8_lossy(src);
        let parsed = parse_lines(&text)
            .map_err(|(line, text, msg)| Error::syntax(file, line, &text, msg))?;
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &parsed.nodes {
            let command = parse_node(node)
                .map_err(|m| Error::syntax(file, node.start_line, &node.original, m))?;
            let ins = Instruction {
                line: node.start_line,
                end_line: node.end_line,
                original: node.original.trim().to_string(),
                command,
            };
            match &ins.command {
                Command::From(f) => stages.push(Stage {
                    index: stages.len(),
                    name: f.name.clone(),
                    base: f.base.clone(),
                    platform: f.platform.clone(),
                    from: ins.clone(),
                    instructions: Vec::new(),
                }),
                Command::Arg(_) if stages.is_empty() => global_args.push(ins),
                _ => match stages.last_mut() {
                    Some(s) => s.instructions.push(ins),
                    None => {
                        return Err(Error::syntax(
                            file,
                            node.start_line,
                            &node.original,
                            "no build stage in current context",
                        ))
                    }
                },
            }
        }
        if stages.is_empty() {
            return Err(Error::Invalid(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        }
        for (i, s) in stages.iter().enumerate() {
            if let Some(n) = &s.name {
                if stages[..i].iter().any(|p| p.name.as_ref() == Some(n)) {
                    return Err(Error::syntax(
                        file,
                        s.from.line,
                        &s.from.original,
                        format!("{n} stage name already used"),
                    ));
                }
            }
        }
        Ok(Dockerfile {
            file: file.to_string(),
            directives: parsed.directives,
            global_args,
            stages,
            warnings: parsed.warnings,
        })
    }

    /// A lexer with this file's escape character.
    pub fn lexer(&self) -> ShellLex {
        ShellLex::new(self.directives.escape)
    }

    /// The declarations of the global ARGs, in order.
    pub fn global_arg_decls(&self) -> impl Iterator<Item = (&Instruction, &ArgDecl)> {
        self.global_args.iter().flat_map(|i| match &i.command {
            Command::Arg(decls) => decls.iter().map(move |d| (i, d)).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
    }

    /// Build-arg state after the global ARGs, for `--build-arg` values `options`: the
    /// starting point of every stage's scope ([`BuildArgs::for_stage`]).
    pub fn build_args(&self, options: &BTreeMap<String, String>) -> Result<BuildArgs> {
        let mut args = BuildArgs::new(options.clone());
        let lex = self.lexer();
        for (ins, decl) in self.global_arg_decls() {
            args.add_meta_arg(&lex, decl)
                .map_err(|m| Error::syntax(&self.file, ins.line, &ins.original, m))?;
        }
        Ok(args)
    }

    /// Index of the stage a `--target` names (default: the last stage).
    pub fn target_index(&self, target: Option<&str>) -> Result<usize> {
        match target {
            None | Some("") => self.stages.len().checked_sub(1).ok_or_else(|| {
                Error::Invalid("No image was generated. Is your Dockerfile empty?".into())
            }),
            Some(t) => self
                .stages
                .iter()
                .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
                .ok_or_else(|| Error::UnknownTarget(t.to_string())),
        }
    }

    /// Resolves bases and `COPY --from` for these build args.
    pub fn graph(&self, options: &BTreeMap<String, String>) -> Result<StageGraph> {
        let args = self.build_args(options)?;
        let meta = args.meta_env();
        let lex = self.lexer();
        let names: Vec<Option<String>> = self.stages.iter().map(|s| s.name.clone()).collect();
        let lookup = |name: &str, before: usize| -> Option<usize> {
            let lower = name.to_lowercase();
            if let Some(i) = names[..before]
                .iter()
                .position(|n| n.as_deref() == Some(lower.as_str()))
            {
                return Some(i);
            }
            match name.parse::<usize>() {
                Ok(i) if i < before => Some(i),
                _ => None,
            }
        };
        let mut bases = Vec::new();
        let mut platforms = Vec::new();
        let mut copy_from = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            let err = |ins: &Instruction, m: String| {
                Error::syntax(&self.file, ins.line, &ins.original, m)
            };
            let base = lex
                .process_word(&s.base, &meta)
                .map_err(|e| err(&s.from, e.to_string()))?;
            if base.is_empty() {
                return Err(err(
                    &s.from,
                    format!("base name ({}) should not be blank", s.base),
                ));
            }
            bases.push(if let Some(j) = lookup(&base, i) {
                Base::Stage(j)
            } else if base == "scratch" {
                Base::Scratch
            } else {
                Base::Image(base)
            });
            platforms.push(match &s.platform {
                Some(p) => Some(
                    lex.process_word(p, &meta)
                        .map_err(|e| err(&s.from, e.to_string()))?,
                ),
                None => None,
            });
            let mut froms = Vec::new();
            for ins in &s.instructions {
                if let Command::Copy(c) = &ins.command {
                    if let Some(f) = &c.from {
                        let f = lex
                            .process_word(f, &meta)
                            .map_err(|e| err(ins, e.to_string()))?;
                        froms.push((
                            ins.line,
                            match lookup(&f, i) {
                                Some(j) => CopySource::Stage(j),
                                None => CopySource::Image(f),
                            },
                        ));
                    }
                }
            }
            copy_from.push(froms);
        }
        Ok(StageGraph {
            bases,
            platforms,
            copy_from,
            names,
        })
    }

    /// The stages to build for `target` with default build args; see
    /// [`StageGraph::stages_needed`].
    pub fn stages_needed(&self, target: Option<&str>) -> Result<Vec<usize>> {
        let graph = self.graph(&BTreeMap::new())?;
        graph.stages_needed(target)
    }
}

impl StageGraph {
    /// The stages `i` depends on directly (its base and `COPY --from` stages).
    pub fn deps(&self, i: usize) -> Vec<usize> {
        let mut d: Vec<usize> = Vec::new();
        if let Some(Base::Stage(j)) = self.bases.get(i) {
            d.push(*j);
        }
        for (_, src) in self.copy_from.get(i).into_iter().flatten() {
            if let CopySource::Stage(j) = src {
                if !d.contains(j) {
                    d.push(*j);
                }
            }
        }
        d
    }

    /// Stages to build for `target` (name, case-insensitive; default the last stage), in
    /// file order; every other stage is skipped.
    pub fn stages_needed(&self, target: Option<&str>) -> Result<Vec<usize>> {
        let t = match target {
            None | Some("") => self.bases.len().checked_sub(1).ok_or_else(|| {
                Error::Invalid("No image was generated. Is your Dockerfile empty?".into())
            })?,
            Some(t) => self
                .names
                .iter()
                .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
                .ok_or_else(|| Error::UnknownTarget(t.to_string()))?,
        };
        let mut needed = vec![false; self.bases.len()];
        let mut todo = vec![t];
        while let Some(i) = todo.pop() {
            if needed[i] {
                continue;
            }
            needed[i] = true;
            // Dependencies always point to earlier stages, so this terminates.
            todo.extend(self.deps(i));
        }
        Ok((0..needed.len()).filter(|i| needed[*i]).collect())
    }
}

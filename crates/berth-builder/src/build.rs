//! The build executor: walks the stages a target needs, step by step, as dockerd's legacy
//! builder does, and writes dockerd's progress stream.
//!
//! Every step makes an image (metadata-only steps one without a new layer), so every step
//! can be cached on its own: the cache key is the parent image, the expanded instruction
//! (with the build args RUN sees), and for COPY/ADD the digest of the sources' content and
//! metadata. A miss is explained from a per-instruction hint of what the step was made of
//! last time.

use crate::cache::{self, CacheEntry, Hint};
use crate::dispatch::{self, apply_metadata, resolve_workdir, run_argv, run_created_by, shell_of};
use crate::host::{BuildHost, HostImage, RunSpec};
use crate::ids::RootIds;
use crate::sources::{self, CopyItem, CopyPlan};
use crate::{cachekey, copy_layer, BuildError};
use berth_dockerfile::{
    Base, Command, CopyCommand, CopySource, Dockerfile, Instruction, StageGraph, StageScope,
};
use berth_model::image::{History, ImageConfig, RootFs};
use berth_model::{Digest, Error, ErrorKind, Result};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Build options, as `POST /build` gives them.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// `None` values are args named without a value (`--build-arg X`, X unset): ignored.
    pub build_args: BTreeMap<String, Option<String>>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub network_mode: Option<String>,
    pub extra_hosts: Vec<String>,
}

/// One message of the progress stream.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildMessage {
    Stream(String),
    Aux(serde_json::Value),
}

/// What a finished build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub id: Digest,
}

/// The state of the stage being built.
struct StageState {
    image: Option<Digest>,
    config: ImageConfig,
    scope: StageScope,
}

struct Run<'a> {
    host: &'a dyn BuildHost,
    ctx_root: PathBuf,
    opts: &'a BuildOptions,
    out: &'a mpsc::Sender<BuildMessage>,
    df: &'a Dockerfile,
    graph: StageGraph,
    /// `SOURCE_DATE_EPOCH` build arg: every timestamp the build writes is clamped to it.
    epoch: Option<i64>,
    step: usize,
    total: usize,
    /// Images of finished stages.
    stages: Vec<Option<HostImage>>,
}

fn invalid(m: impl Into<String>) -> Failed {
    Failed::from(Error::invalid(m.into()))
}

/// Runs the build of the Dockerfile `dockerfile` (bytes; `file` names it in errors) over
/// the extracted context `ctx_root`, sending progress to `out`. Tags are not applied here:
/// the caller tags once the build succeeded.
pub async fn build(
    host: &dyn BuildHost,
    ctx_root: &Path,
    dockerfile: &[u8],
    file: &str,
    opts: &BuildOptions,
    out: &mpsc::Sender<BuildMessage>,
) -> R<BuildResult> {
    let df = Dockerfile::parse(dockerfile, file).map_err(dockerfile_error)?;
    let mut options: BTreeMap<String, String> = opts
        .build_args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let epoch = match options.get("SOURCE_DATE_EPOCH") {
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            invalid(format!(
                "invalid SOURCE_DATE_EPOCH {v:?}: want seconds since the epoch"
            ))
        })?),
        None => None,
    };
    // SOURCE_DATE_EPOCH steers the build; it is not an arg a Dockerfile must consume.
    let unused_exempt = options.contains_key("SOURCE_DATE_EPOCH");
    let graph = df.graph(&options).map_err(dockerfile_error)?;
    let needed = graph
        .stages_needed(opts.target.as_deref())
        .map_err(dockerfile_error)?;
    let mut global = df.build_args(&options).map_err(dockerfile_error)?;
    let total = df.global_args.len()
        + needed
            .iter()
            .map(|&i| 1 + df.stages[i].instructions.len())
            .sum::<usize>()
        + usize::from(!opts.labels.is_empty());
    let mut run = Run {
        host,
        ctx_root: ctx_root.to_path_buf(),
        opts,
        out,
        df: &df,
        graph,
        epoch,
        step: 0,
        total,
        stages: vec![None; df.stages.len()],
    };
    for ins in &df.global_args {
        run.step_header(ins).await;
    }
    let last = *needed.last().expect("a target stage");
    for &i in &needed {
        let img = run.build_stage(i, i == last).await?;
        run.stages[i] = Some(img);
    }
    let img = run.stages[last].clone().expect("target built");
    if unused_exempt {
        options.remove("SOURCE_DATE_EPOCH");
    }
    // Which args were consumed is known per stage; the global scope has every ARG seen.
    for s in &needed {
        for ins in &df.stages[*s].instructions {
            if let Command::Arg(decls) = &ins.command {
                for d in decls {
                    global.declare(&d.key, None);
                }
            }
        }
    }
    let mut unused: Vec<String> = global
        .unused()
        .into_iter()
        .filter(|k| k != "SOURCE_DATE_EPOCH")
        .collect();
    unused.sort();
    if !unused.is_empty() {
        run.say(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ))
        .await;
    }
    Ok(BuildResult { id: img.id })
}

fn dockerfile_error(e: berth_dockerfile::Error) -> Error {
    match e {
        berth_dockerfile::Error::Syntax(s) => Error::invalid(s.to_string()),
        other => Error::invalid(other.to_string()),
    }
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

impl Run<'_> {
    async fn say(&self, s: impl Into<String>) {
        let _ = self.out.send(BuildMessage::Stream(s.into())).await;
    }

    async fn step_header(&mut self, ins: &Instruction) {
        self.step += 1;
        self.say(format!(
            "Step {}/{} : {}",
            self.step, self.total, ins.original
        ))
        .await;
        self.say("\n").await;
    }

    fn now(&self) -> String {
        match self.epoch {
            Some(e) => chrono::DateTime::from_timestamp(e, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }

    async fn base(&mut self, i: usize) -> R<(Option<HostImage>, ImageConfig)> {
        match self.graph.bases[i].clone() {
            Base::Scratch => {
                let config = ImageConfig {
                    architecture: berth_model::image::host_architecture().to_string(),
                    os: "linux".into(),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: Vec::new(),
                    },
                    ..Default::default()
                };
                Ok((None, config))
            }
            Base::Stage(j) => {
                let img = self.stages[j]
                    .clone()
                    .ok_or_else(|| Error::internal(format!("stage {j} was not built")))?;
                let config = img.config.clone();
                Ok((Some(img), config))
            }
            Base::Image(r) => {
                let img = if self.opts.pull {
                    self.host.pull(&r).await?
                } else {
                    match self.host.image(&r).await? {
                        Some(img) => img,
                        None => self.host.pull(&r).await?,
                    }
                };
                let config = img.config.clone();
                Ok((Some(img), config))
            }
        }
    }

    async fn build_stage(&mut self, i: usize, is_target: bool) -> R<HostImage> {
        let stage = &self.df.stages[i];
        self.step_header(&stage.from).await;
        let (base, config) = self.base(i).await?;
        if let Some(b) = &base {
            self.say(format!(" ---> {}\n", short(&b.id))).await;
        }
        let env: Vec<String> = config.config.env.clone().unwrap_or_default();
        let global = self
            .df
            .build_args(
                &self
                    .opts
                    .build_args
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                    .collect(),
            )
            .map_err(dockerfile_error)?;
        let scope = StageScope::new(self.df, &env, &global);
        let mut st = StageState {
            image: base.as_ref().map(|b| b.id.clone()),
            config,
            scope,
        };
        // ONBUILD triggers of the base run first; they are not inherited further.
        let triggers = st.config.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.say(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ))
            .await;
            for t in triggers {
                let ins = berth_dockerfile::parse_instruction(
                    &t,
                    self.df.directives.escape,
                    &self.df.file,
                )
                .map_err(dockerfile_error)?;
                if matches!(
                    ins.command,
                    Command::From(_) | Command::OnBuild(_) | Command::Maintainer(_)
                ) {
                    return Err(invalid(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        ins.command.name()
                    )));
                }
                self.execute(&mut st, &ins).await?;
            }
        }
        for ins in &stage.instructions {
            self.step_header(ins).await;
            self.execute(&mut st, ins).await?;
        }
        if is_target && !self.opts.labels.is_empty() {
            let mut line = String::from("LABEL");
            for (k, v) in &self.opts.labels {
                line.push_str(&format!(" {}={}", quote_label(k), quote_label(v)));
            }
            let ins =
                berth_dockerfile::parse_instruction(&line, self.df.directives.escape, "labels")
                    .map_err(dockerfile_error)?;
            self.step_header(&ins).await;
            self.execute(&mut st, &ins).await?;
        }
        match st.image {
            Some(id) => Ok(HostImage {
                id,
                config: st.config,
            }),
            None => Err(invalid("No image was generated. Is your Dockerfile empty?")),
        }
    }

    async fn execute(&mut self, st: &mut StageState, ins: &Instruction) -> R<()> {
        let ins = st.scope.step(ins).map_err(dockerfile_error)?;
        match &ins.command {
            Command::From(_) => Err(invalid("FROM inside a stage")),
            Command::Run(r) => self.run_step(st, &ins, r).await,
            Command::Copy(c) => self.copy_step(st, &ins, c, false).await,
            Command::Add(c) => self.copy_step(st, &ins, c, true).await,
            Command::Workdir(w) => self.workdir_step(st, &ins, w).await,
            _ => self.metadata_step(st, &ins).await,
        }
    }

    /// Looks up `key`; on a hit reports it and moves the stage on. On a miss, reports why.
    async fn probe(
        &self,
        st: &mut StageState,
        key: &str,
        hint_key: &str,
        ins: &Instruction,
        current: &Hint,
    ) -> R<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        if let Some(bytes) = self.host.cache_get(key).await? {
            if let Some(entry) = CacheEntry::decode(&bytes) {
                if self.host.image_exists(&entry.image).await {
                    if let Some(img) = self.host.image(&entry.image.to_string()).await? {
                        self.say(" ---> Using cache\n").await;
                        self.say(format!(" ---> {}\n", short(&img.id))).await;
                        st.image = Some(img.id);
                        st.config = img.config;
                        return Ok(true);
                    }
                }
            }
        }
        let previous = self
            .host
            .cache_get(hint_key)
            .await?
            .and_then(|b| Hint::decode(&b));
        // A step never built before is not news; any other miss says why.
        if let Some(prev) = previous {
            let why = cache::miss_reason(Some(&prev), current);
            self.say(format!(
                " ---> cache miss: {} ({why})\n",
                one_line(&ins.original)
            ))
            .await;
        }
        Ok(false)
    }

    /// Records a new step image under `key`, and the hint that explains later misses.
    async fn remember(&self, key: &str, hint_key: &str, hint: &Hint, image: &Digest) -> R<()> {
        let entry = CacheEntry {
            image: image.clone(),
        };
        self.host
            .cache_put(vec![
                (key.to_string(), entry.encode()),
                (hint_key.to_string(), hint.encode()),
            ])
            .await?;
        Ok(())
    }

    /// A step's cache key. SOURCE_DATE_EPOCH is part of every key: it changes the
    /// timestamps a step writes, so a step made without it (or with another) must not hit.
    fn step_key(&self, parent: Option<&Digest>, kind: &str, parts: &[&str]) -> String {
        let epoch = self.epoch.map(|e| e.to_string()).unwrap_or_default();
        let mut all: Vec<&str> = parts.to_vec();
        all.push(&epoch);
        cache::step_key(parent, kind, &all)
    }

    fn hint_key(&self, ins: &Instruction) -> String {
        cache::hint_key(&self.df.file, ins.line, &ins.original)
    }

    fn history(&self, st: &mut StageState, created_by: String, empty: bool) {
        let created = self.now();
        st.config.created = Some(created.clone());
        st.config.history.push(History {
            created: Some(created),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer: empty,
        });
    }

    async fn finish_step(&self, st: &mut StageState, id: Digest) -> R<()> {
        self.say(format!(" ---> {}\n", short(&id))).await;
        let img = self
            .host
            .image(&id.to_string())
            .await?
            .ok_or_else(|| Error::internal(format!("image {id} vanished during the build")))?;
        st.image = Some(img.id);
        st.config = img.config;
        Ok(())
    }

    async fn metadata_step(&mut self, st: &mut StageState, ins: &Instruction) -> R<()> {
        let mut next = st.config.clone();
        let created_by = apply_metadata(&mut next, ins)
            .ok_or_else(|| Error::internal(format!("{} is not metadata", ins.command.name())))?;
        let key = self.step_key(st.image.as_ref(), "meta", &[&created_by]);
        let hint_key = self.hint_key(ins);
        let hint = Hint::new(st.image.as_ref(), &key);
        if self.probe(st, &key, &hint_key, ins, &hint).await? {
            return Ok(());
        }
        let mut scratch_st = StageState {
            image: st.image.clone(),
            config: next,
            scope: st.scope.clone(),
        };
        self.history(&mut scratch_st, created_by, true);
        let id = self
            .host
            .write_image(st.image.as_ref(), None, scratch_st.config.clone())
            .await?;
        self.remember(&key, &hint_key, &hint, &id).await?;
        self.finish_step(st, id).await
    }

    async fn run_step(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        r: &berth_dockerfile::Run,
    ) -> R<()> {
        let shell = shell_of(&st.config.config);
        let argv = run_argv(r, &shell);
        let mut run_args = st.scope.run_args();
        run_args.sort();
        let created_by = run_created_by(&argv, &run_args);
        let args_text: Vec<String> = run_args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let key = self.step_key(
            st.image.as_ref(),
            "run",
            &[
                &created_by,
                self.opts.network_mode.as_deref().unwrap_or(""),
                &self.opts.extra_hosts.join(","),
            ],
        );
        let hint_key = self.hint_key(ins);
        let mut hint = Hint::new(st.image.as_ref(), &key);
        hint.args = args_text;
        if self.probe(st, &key, &hint_key, ins, &hint).await? {
            return Ok(());
        }
        let mut env = st.config.config.env.clone().unwrap_or_default();
        env.extend(run_args.iter().map(|(k, v)| format!("{k}={v}")));
        let spec = RunSpec {
            image: st.image.clone(),
            argv: argv.clone(),
            env,
            user: st.config.config.user.clone(),
            working_dir: st.config.config.working_dir.clone(),
            network_mode: self.opts.network_mode.clone(),
            extra_hosts: self.opts.extra_hosts.clone(),
        };
        let ctr = self.host.create_run(spec).await?;
        let short_ctr: String = ctr.chars().take(12).collect();
        self.say(format!(" ---> Running in {short_ctr}\n")).await;
        let (tx, mut rx) = mpsc::channel::<Bytes>(64);
        let out = self.out.clone();
        let forward = tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                if out.send(BuildMessage::Stream(text)).await.is_err() {
                    break;
                }
            }
        });
        let result = self.host.start_run(&ctr, tx).await;
        let _ = forward.await;
        let code = match result {
            Ok(c) => c,
            Err(e) => {
                let _ = self.host.remove_run(&ctr).await;
                return Err(e.into());
            }
        };
        if code != 0 {
            if let Err(e) = self.host.remove_run(&ctr).await {
                tracing::warn!(container = %ctr, "remove failed RUN container: {e}");
            }
            return Err(Failed {
                error: Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "The command '{}' returned a non-zero code: {code}",
                        argv.join(" ")
                    ),
                ),
                code,
            });
        }
        let mut next = StageState {
            image: st.image.clone(),
            config: st.config.clone(),
            scope: st.scope.clone(),
        };
        self.history(&mut next, created_by, false);
        let committed = self.host.commit_run(&ctr, next.config, self.epoch).await;
        let removed = self.host.remove_run(&ctr).await;
        let id = committed?;
        removed?;
        self.say(format!("Removing intermediate container {short_ctr}\n"))
            .await;
        self.remember(&key, &hint_key, &hint, &id).await?;
        self.finish_step(st, id).await
    }

    async fn workdir_step(&mut self, st: &mut StageState, ins: &Instruction, w: &str) -> R<()> {
        let dir = resolve_workdir(&st.config.config.working_dir, w);
        let created_by = dispatch::nop(&shell_of(&st.config.config), &format!("WORKDIR {dir}"));
        let key = self.step_key(st.image.as_ref(), "workdir", &[&created_by]);
        let hint_key = self.hint_key(ins);
        let hint = Hint::new(st.image.as_ref(), &key);
        if self.probe(st, &key, &hint_key, ins, &hint).await? {
            return Ok(());
        }
        let root = self.host.image_root(st.image.as_ref()).await?;
        let exists = std::fs::symlink_metadata(root.path().join(dir.trim_start_matches('/')))
            .map(|m| m.is_dir() || m.file_type().is_symlink())
            .unwrap_or(false);
        drop(root);
        let mut next = StageState {
            image: st.image.clone(),
            config: st.config.clone(),
            scope: st.scope.clone(),
        };
        next.config.config.working_dir = dir.clone();
        self.history(&mut next, created_by, exists);
        let id = if exists {
            self.host
                .write_image(st.image.as_ref(), None, next.config)
                .await?
        } else {
            let scratch = self.host.scratch().await?;
            let root = self.host.image_root(st.image.as_ref()).await?;
            let layer = scratch.path().join("layer.tar");
            let (path, epoch, work) = (layer.clone(), self.epoch, scratch.path().to_path_buf());
            let (d, parent) = (dir.clone(), root.path().to_path_buf());
            tokio::task::spawn_blocking(move || {
                crate::layers::dir_layer(&parent, &work, &d, epoch, &path)
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
            drop(root);
            self.host
                .write_image(st.image.as_ref(), Some(&layer), next.config)
                .await?
        };
        self.remember(&key, &hint_key, &hint, &id).await?;
        self.finish_step(st, id).await
    }

    async fn copy_step(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        c: &CopyCommand,
        is_add: bool,
    ) -> R<()> {
        let name = if is_add { "ADD" } else { "COPY" };
        // Where the sources come from: the context, heredoc bodies, a stage or an image.
        let scratch = self.host.scratch().await?;
        let mut from_root = None;
        let mut from_id = String::new();
        let src_root: PathBuf = if !c.contents.is_empty() {
            if !c.sources.is_empty() {
                return Err(invalid(format!(
                    "{name} with both heredoc content and source paths is not supported"
                )));
            }
            let dir = scratch.path().join("heredoc");
            std::fs::create_dir(&dir).map_err(|e| Error::internal(e.to_string()))?;
            for h in &c.contents {
                let p = dir.join(h.path.trim_start_matches('/'));
                std::fs::write(&p, h.data.as_bytes())
                    .map_err(|e| Error::internal(format!("write heredoc {}: {e}", h.path)))?;
            }
            dir
        } else if let Some(f) = &c.from {
            let src = self
                .graph
                .copy_from
                .get(
                    self.df
                        .stages
                        .iter()
                        .position(|s| s.instructions.iter().any(|i| i.line == ins.line))
                        .unwrap_or(usize::MAX),
                )
                .and_then(|v| {
                    v.iter()
                        .find(|(l, _)| *l == ins.line)
                        .map(|(_, s)| s.clone())
                });
            let img = match src {
                Some(CopySource::Stage(j)) => self.stages[j].clone().ok_or_else(|| {
                    Error::internal(format!("stage {j} was not built before COPY --from"))
                })?,
                _ => match self.host.image(f).await? {
                    Some(i) if !self.opts.pull => i,
                    _ => self.host.pull(f).await?,
                },
            };
            from_id = img.id.to_string();
            let root = self.host.image_root(Some(&img.id)).await?;
            let p = root.path().to_path_buf();
            from_root = Some(root);
            p
        } else {
            self.ctx_root.clone()
        };
        let mut sources_list: Vec<String> = if c.contents.is_empty() {
            c.sources.clone()
        } else {
            c.contents.iter().map(|h| h.path.clone()).collect()
        };
        if is_add {
            // Remote sources are downloaded into the context first, then copied as files.
            for (n, src) in sources_list.iter_mut().enumerate() {
                if !crate::remote::is_url(src) {
                    continue;
                }
                let rel = format!(".berth-remote-{n}");
                let dir = src_root.join(&rel);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir(&dir).map_err(|e| Error::internal(e.to_string()))?;
                let name = crate::remote::file_name(src);
                crate::remote::download(src, &dir.join(&name)).await?;
                *src = format!("{rel}/{name}");
            }
        } else if let Some(u) = sources_list.iter().find(|s| crate::remote::is_url(s)) {
            return Err(invalid(format!(
                "COPY failed: source can't be a URL for COPY: {u}"
            )));
        }
        let parent_root = self.host.image_root(st.image.as_ref()).await?;
        let parent_path = parent_root.path().to_path_buf();
        let workdir = st.config.config.working_dir.clone();
        let dest = c.dest.clone();
        let name_s = name.to_string();
        let (chown, chmod) = (c.chown.clone(), c.chmod.clone());
        let epoch = self.epoch;
        let layer = scratch.path().join("layer.tar");
        let layer2 = layer.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Result<Prepared> {
            let dest_is_dir = |p: &str| {
                std::fs::symlink_metadata(parent_path.join(p.trim_start_matches('/')))
                    .map(|m| m.is_dir())
                    .unwrap_or(false)
            };
            let mut plan = sources::resolve(
                &name_s,
                &src_root,
                &sources_list,
                &dest,
                &workdir,
                &dest_is_dir,
            )?;
            if is_add {
                plan = crate::layers::expand_add_archives(plan, &dest, &workdir, &dest_is_dir)?;
            }
            let digest = cachekey::sources_digest(&plan)?;
            let ids = RootIds::new(&parent_path);
            let chown = chown
                .as_deref()
                .map(|s| copy_layer::parse_chown(s, &ids))
                .transpose()?;
            let chmod = chmod.as_deref().map(copy_layer::parse_chmod).transpose()?;
            Ok(Prepared {
                plan,
                digest,
                chown,
                chmod,
                parent_path,
            })
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        let kind = describe(&prepared.plan);
        let content_hex = prepared
            .digest
            .digest
            .trim_start_matches("sha256:")
            .to_string();
        let created_by = dispatch::nop(
            &shell_of(&st.config.config),
            &format!("{name} {kind}:{content_hex} in {} ", c.dest),
        );
        let key = self.step_key(
            st.image.as_ref(),
            name,
            &[
                &created_by,
                &from_id,
                &format!("{:?}", prepared.chown),
                &format!("{:?}", prepared.chmod),
                &format!("{:?}", prepared.plan.items),
            ],
        );
        let hint_key = self.hint_key(ins);
        let mut hint = Hint::new(st.image.as_ref(), &key);
        hint.files = prepared.digest.files.clone();
        if self.probe(st, &key, &hint_key, ins, &hint).await? {
            return Ok(());
        }
        let opts = copy_layer::LayerOptions {
            chown: prepared.chown,
            chmod: prepared.chmod,
            source_date_epoch: epoch,
            parent_mtime: epoch.unwrap_or_else(|| chrono::Utc::now().timestamp()),
        };
        let plan = prepared.plan;
        let parent_path = prepared.parent_path;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let file = std::fs::File::create(&layer2)
                .map_err(|e| Error::internal(format!("create {}: {e}", layer2.display())))?;
            let existing = |p: &str| crate::layers::existing_dir(&parent_path, p);
            copy_layer::write_copy_layer_with(
                &plan,
                &opts,
                &existing,
                std::io::BufWriter::new(file),
            )?;
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        drop(parent_root);
        drop(from_root);
        let mut next = StageState {
            image: st.image.clone(),
            config: st.config.clone(),
            scope: st.scope.clone(),
        };
        self.history(&mut next, created_by, false);
        let id = self
            .host
            .write_image(st.image.as_ref(), Some(&layer), next.config)
            .await?;
        drop(scratch);
        self.remember(&key, &hint_key, &hint, &id).await?;
        self.finish_step(st, id).await
    }
}

struct Prepared {
    plan: CopyPlan,
    digest: cachekey::SourcesDigest,
    chown: Option<(u32, u32)>,
    chmod: Option<u32>,
    parent_path: PathBuf,
}

/// `file`, `dir` or `multi`, as dockerd names COPY sources in history.
fn describe(plan: &CopyPlan) -> &'static str {
    match plan.items.as_slice() {
        [CopyItem { is_dir: false, .. }] => "file",
        [CopyItem { is_dir: true, .. }] => "dir",
        _ => "multi",
    }
}

fn one_line(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    if s.contains('\n') {
        format!("{first} ...")
    } else {
        first.to_string()
    }
}

/// A `--label` key or value as a LABEL word.
fn quote_label(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@+,".contains(c))
    {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Why a build failed, with the exit code the docker CLI exits with (a failing RUN's own
/// code, else 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub error: Error,
    pub code: i64,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed { error, code: 1 }
    }
}

impl From<BuildError> for Failed {
    fn from(e: BuildError) -> Self {
        Failed::from(Error::from(e))
    }
}

type R<T> = std::result::Result<T, Failed>;

//! The Dockerfile executor over a fake `BuildHost`: no root, no daemon. The fake keeps
//! images in memory (ID = sha256 of the config bytes, filesystems as path → bytes maps),
//! "runs" RUN containers by a scripted rule, and records what it was asked to do.

use async_trait::async_trait;
use berth_builder::host::TempDir;
use berth_builder::{
    build, BuildHost, BuildMessage, BuildOptions, BuildResult, Failed, HostImage, ImageRoot,
    RunSpec, ScratchDir,
};
use berth_model::image::{History, ImageConfig, RootFs};
use berth_model::{Digest, Error, ErrorKind, Result};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// An image's filesystem: absolute path → file content (directories are implied).
type Files = BTreeMap<String, Vec<u8>>;

#[derive(Default)]
struct State {
    images: HashMap<Digest, (ImageConfig, Files)>,
    names: HashMap<String, Digest>,
    cache: HashMap<String, Vec<u8>>,
    /// Created RUN containers: id → spec.
    containers: HashMap<String, RunSpec>,
    /// Every RunSpec started, in order.
    runs: Vec<RunSpec>,
    removed: Vec<String>,
    committed: Vec<String>,
    tags: Vec<(Digest, String)>,
    pulls: Vec<String>,
}

struct FakeHost {
    state: Mutex<State>,
    dirs: tempfile::TempDir,
    counter: AtomicUsize,
}

fn base_config(env: &[&str], on_build: Option<Vec<String>>) -> ImageConfig {
    ImageConfig {
        created: Some("2020-01-01T00:00:00Z".into()),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: berth_model::image::ImageRunConfig {
            env: Some(env.iter().map(|s| s.to_string()).collect()),
            cmd: Some(vec!["sh".into()]),
            on_build,
            ..Default::default()
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![Digest::of(b"busybox layer")],
        },
        history: vec![History {
            created: Some("2020-01-01T00:00:00Z".into()),
            created_by: Some("/bin/sh -c #(nop) ADD file:busybox in / ".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

const BASE_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl FakeHost {
    fn new() -> Self {
        let host = FakeHost {
            state: Mutex::new(State::default()),
            dirs: tempfile::tempdir().unwrap(),
            counter: AtomicUsize::new(0),
        };
        let mut files = Files::new();
        files.insert(
            "/etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".to_vec(),
        );
        files.insert("/etc/group".into(), b"root:x:0:\nstaff:x:50:\n".to_vec());
        files.insert("/bin/sh".into(), b"#!fake".to_vec());
        host.seed("busybox", base_config(&[BASE_ENV], None), files.clone());
        host.seed(
            "onbase",
            base_config(&[BASE_ENV], Some(vec!["RUN echo trig".into()])),
            files,
        );
        host
    }

    fn seed(&self, name: &str, config: ImageConfig, files: Files) -> Digest {
        let id = Digest::of(&config.to_bytes());
        let mut st = self.state.lock().unwrap();
        st.images.insert(id.clone(), (config, files));
        st.names.insert(name.to_string(), id.clone());
        st.names.insert(format!("{name}:latest"), id.clone());
        id
    }

    fn id_of(&self, name: &str) -> Digest {
        self.state.lock().unwrap().names[name].clone()
    }

    fn runs(&self) -> Vec<RunSpec> {
        self.state.lock().unwrap().runs.clone()
    }

    fn config(&self, id: &Digest) -> ImageConfig {
        self.state.lock().unwrap().images[id].0.clone()
    }

    fn files(&self, id: &Digest) -> Files {
        self.state.lock().unwrap().images[id].1.clone()
    }

    fn fresh_dir(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let p = self.dirs.path().join(format!("d{n}"));
        std::fs::create_dir(&p).unwrap();
        p
    }

    fn next_container(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        Digest::of(format!("container {n}").as_bytes())
            .hex()
            .to_string()
    }

    /// Stores `config` as a child of `parent` with `files` added, filling in the rootfs.
    fn store(
        &self,
        parent: Option<&Digest>,
        diff: Option<Digest>,
        added: Files,
        mut config: ImageConfig,
    ) -> Result<Digest> {
        let mut st = self.state.lock().unwrap();
        let (mut diff_ids, mut files) = match parent {
            Some(p) => {
                let (c, f) = st
                    .images
                    .get(p)
                    .ok_or_else(|| Error::not_found(format!("no such image {p}")))?;
                (c.rootfs.diff_ids.clone(), f.clone())
            }
            None => (Vec::new(), Files::new()),
        };
        diff_ids.extend(diff);
        files.extend(added);
        config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids,
        };
        let id = Digest::of(&config.to_bytes());
        st.images.insert(id.clone(), (config, files));
        Ok(id)
    }
}

/// Regular files of an uncompressed layer tar, by absolute path.
fn layer_files(bytes: &[u8]) -> Files {
    let mut out = Files::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let path = format!("/{}", e.path().unwrap().display());
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(path.trim_start_matches("/./").replace("//", "/"), data);
        }
    }
    out
}

fn materialize(dir: &Path, files: &Files) {
    for (p, data) in files {
        let path = dir.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

#[async_trait]
impl BuildHost for FakeHost {
    async fn image(&self, reference: &str) -> Result<Option<HostImage>> {
        let st = self.state.lock().unwrap();
        let id = match reference.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => st.names.get(reference).cloned(),
        };
        Ok(id.and_then(|id| {
            st.images.get(&id).map(|(c, _)| HostImage {
                id: id.clone(),
                config: c.clone(),
            })
        }))
    }

    async fn pull(&self, reference: &str) -> Result<HostImage> {
        self.state.lock().unwrap().pulls.push(reference.to_string());
        Err(Error::not_found(format!(
            "pull access denied for {reference}, repository does not exist"
        )))
    }

    async fn image_exists(&self, id: &Digest) -> bool {
        self.state.lock().unwrap().images.contains_key(id)
    }

    async fn create_run(&self, spec: RunSpec) -> Result<String> {
        let id = self.next_container();
        self.state
            .lock()
            .unwrap()
            .containers
            .insert(id.clone(), spec);
        Ok(id)
    }

    async fn start_run(&self, container: &str, output: mpsc::Sender<Bytes>) -> Result<i64> {
        let spec = {
            let mut st = self.state.lock().unwrap();
            let spec = st
                .containers
                .get(container)
                .cloned()
                .ok_or_else(|| Error::not_found(format!("no such container {container}")))?;
            st.runs.push(spec.clone());
            spec
        };
        if spec.argv.iter().any(|a| a.contains("exit 3")) {
            let _ = output.send(Bytes::from_static(b"about to fail\n")).await;
            Ok(3)
        } else {
            let _ = output.send(Bytes::from_static(b"ran\n")).await;
            Ok(0)
        }
    }

    async fn commit_run(
        &self,
        container: &str,
        config: ImageConfig,
        _source_date_epoch: Option<i64>,
    ) -> Result<Digest> {
        let spec = {
            let mut st = self.state.lock().unwrap();
            st.committed.push(container.to_string());
            st.containers
                .get(container)
                .cloned()
                .ok_or_else(|| Error::not_found(format!("no such container {container}")))?
        };
        // The "layer" a RUN makes: a file named after its argv, deterministic.
        let script = spec.argv.join(" ");
        let mut added = Files::new();
        added.insert("/ran".into(), script.clone().into_bytes());
        self.store(
            spec.image.as_ref(),
            Some(Digest::of(script.as_bytes())),
            added,
            config,
        )
    }

    async fn remove_run(&self, container: &str) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        st.containers
            .remove(container)
            .ok_or_else(|| Error::not_found(format!("no such container {container}")))?;
        st.removed.push(container.to_string());
        Ok(())
    }

    async fn write_image(
        &self,
        parent: Option<&Digest>,
        layer: Option<&Path>,
        config: ImageConfig,
    ) -> Result<Digest> {
        let (diff, added) = match layer {
            Some(p) => {
                let bytes = std::fs::read(p).map_err(|e| Error::internal(e.to_string()))?;
                (Some(Digest::of(&bytes)), layer_files(&bytes))
            }
            None => (None, Files::new()),
        };
        self.store(parent, diff, added, config)
    }

    async fn image_root(&self, id: Option<&Digest>) -> Result<Box<dyn ImageRoot>> {
        let dir = self.fresh_dir();
        if let Some(id) = id {
            let files = self
                .state
                .lock()
                .unwrap()
                .images
                .get(id)
                .map(|(_, f)| f.clone())
                .ok_or_else(|| Error::not_found(format!("no such image {id}")))?;
            materialize(&dir, &files);
        }
        Ok(Box::new(TempDir(dir)))
    }

    async fn scratch(&self) -> Result<Box<dyn ScratchDir>> {
        Ok(Box::new(TempDir(self.fresh_dir())))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.state.lock().unwrap().cache.get(key).cloned())
    }

    async fn cache_put(&self, entries: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.state.lock().unwrap().cache.extend(entries);
        Ok(())
    }

    async fn tag(&self, id: &Digest, reference: &str) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        st.tags.push((id.clone(), reference.to_string()));
        st.names.insert(reference.to_string(), id.clone());
        Ok(())
    }
}

/// A build context directory with the given files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, data) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    d
}

struct Outcome {
    result: std::result::Result<BuildResult, Failed>,
    messages: Vec<String>,
}

impl Outcome {
    fn text(&self) -> String {
        self.messages.concat()
    }

    fn id(&self) -> Digest {
        match &self.result {
            Ok(r) => r.id.clone(),
            Err(e) => panic!("build failed: {e:?}\n{}", self.text()),
        }
    }

    fn err(&self) -> Failed {
        match &self.result {
            Ok(r) => panic!("build succeeded with {}\n{}", r.id, self.text()),
            Err(e) => e.clone(),
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

async fn run_build(host: &FakeHost, ctx: &Path, dockerfile: &str, opts: &BuildOptions) -> Outcome {
    let (tx, mut rx) = mpsc::channel(1024);
    let collect = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Some(m) = rx.recv().await {
            match m {
                BuildMessage::Stream(s) => v.push(s),
                BuildMessage::Aux(_) => {}
            }
        }
        v
    });
    let result = build(host, ctx, dockerfile.as_bytes(), "Dockerfile", opts, &tx).await;
    drop(tx);
    Outcome {
        result,
        messages: collect.await.unwrap(),
    }
}

fn args(kv: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

fn created_by(c: &ImageConfig) -> Vec<(String, bool)> {
    c.history
        .iter()
        .map(|h| (h.created_by.clone().unwrap_or_default(), h.empty_layer))
        .collect()
}

fn is_short_id_line(s: &str) -> bool {
    s.strip_prefix(" ---> ")
        .and_then(|r| r.strip_suffix('\n'))
        .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

const MAIN: &str = "FROM busybox
ENV A=1
ARG V=x
LABEL l=v
EXPOSE 80
WORKDIR /app
COPY f /app/f
RUN echo $V
CMD [\"sh\", \"-c\", \"cat /app/f\"]
";

#[tokio::test]
async fn steps_messages_config_and_history() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "hello\n")]);
    let out = run_build(&host, ctx.path(), MAIN, &BuildOptions::default()).await;
    let id = out.id();
    let m = &out.messages;
    let base = host.id_of("busybox");
    assert_eq!(m[0], "Step 1/9 : FROM busybox");
    assert_eq!(m[1], "\n");
    assert_eq!(m[2], format!(" ---> {}\n", &base.hex()[..12]));
    assert_eq!(m[3], "Step 2/9 : ENV A=1");
    assert!(is_short_id_line(&m[5]), "{:?}", m[5]);
    for (n, line) in MAIN.lines().enumerate() {
        assert!(
            m.contains(&format!("Step {}/9 : {line}", n + 1)),
            "missing step {n}: {m:?}"
        );
    }
    // Every step but FROM ends on the new image's short ID.
    assert_eq!(m.iter().filter(|s| is_short_id_line(s)).count(), 9);
    assert_eq!(m.last().unwrap(), &format!(" ---> {}\n", &id.hex()[..12]));
    let text = out.text();
    let ctr = {
        let st = host.state.lock().unwrap();
        assert_eq!(st.removed.len(), 1);
        assert!(st.containers.is_empty());
        st.removed[0].clone()
    };
    let run_part = format!(
        " ---> Running in {}\nran\nRemoving intermediate container {}\n",
        &ctr[..12],
        &ctr[..12]
    );
    assert!(text.contains(&run_part), "{text}");
    assert!(!text.contains("cache miss"), "{text}");

    let c = host.config(&id);
    assert_eq!(
        c.config.env,
        Some(vec![BASE_ENV.to_string(), "A=1".to_string()])
    );
    assert_eq!(
        c.config.cmd,
        Some(vec!["sh".into(), "-c".into(), "cat /app/f".into()])
    );
    assert_eq!(c.config.labels.as_ref().unwrap()["l"], "v");
    assert_eq!(c.config.working_dir, "/app");
    assert!(c
        .config
        .exposed_ports
        .as_ref()
        .unwrap()
        .contains_key("80/tcp"));
    // Base layer, WORKDIR (a new directory), COPY, RUN.
    assert_eq!(c.rootfs.diff_ids.len(), 4);
    let hist = created_by(&c);
    assert_eq!(hist.len(), 9);
    assert_eq!(hist[1], ("/bin/sh -c #(nop)  ENV A=1".into(), true));
    assert_eq!(hist[2], ("/bin/sh -c #(nop)  ARG V=x".into(), true));
    assert_eq!(hist[3], ("/bin/sh -c #(nop)  LABEL l=v".into(), true));
    assert_eq!(hist[4], ("/bin/sh -c #(nop)  EXPOSE 80".into(), true));
    assert_eq!(hist[5], ("/bin/sh -c #(nop) WORKDIR /app".into(), false));
    assert!(
        hist[6].0.starts_with("/bin/sh -c #(nop) COPY file:") && hist[6].0.ends_with(" in /app/f "),
        "{:?}",
        hist[6]
    );
    assert!(!hist[6].1);
    assert_eq!(hist[7], ("|1 V=x /bin/sh -c echo $V".into(), false));
    assert_eq!(
        hist[8],
        (
            "/bin/sh -c #(nop)  CMD [\"sh\" \"-c\" \"cat /app/f\"]".into(),
            true
        )
    );
    // The fake's filesystem got the copied file, the RUN's marker.
    let files = host.files(&id);
    assert_eq!(files["/app/f"], b"hello\n");
    assert_eq!(files["/ran"], b"/bin/sh -c echo $V");
    // Tags are the caller's business.
    assert!(host.state.lock().unwrap().tags.is_empty());
}

#[tokio::test]
async fn run_spec_shell_env_user_workdir_heredoc() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM busybox
ARG V=def
ARG W=w
ENV E=1
USER app
WORKDIR /w
RUN echo $V
SHELL [\"/bin/bash\",\"-c\"]
RUN echo bash
RUN [\"/bin/echo\", \"exec form\"]
RUN <<EOF
echo a
echo b
EOF
";
    let opts = BuildOptions {
        build_args: args(&[("V", "over")]),
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), df, &opts).await;
    let id = out.id();
    let runs = host.runs();
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo $V"]);
    assert_eq!(runs[1].argv, ["/bin/bash", "-c", "echo bash"]);
    assert_eq!(runs[2].argv, ["/bin/echo", "exec form"]);
    assert_eq!(runs[3].argv, ["/bin/bash", "-c", "echo a\necho b\n"]);
    for r in &runs {
        assert_eq!(r.user, "app");
        assert_eq!(r.working_dir, "/w");
        assert_eq!(r.env, [BASE_ENV, "E=1", "V=over", "W=w"]);
    }
    // Each RUN runs on the image of the step before it.
    assert!(runs.iter().all(|r| r.image.is_some()));
    let c = host.config(&id);
    assert_eq!(c.config.user, "app");
    assert_eq!(c.config.shell, Some(vec!["/bin/bash".into(), "-c".into()]));
    let hist = created_by(&c);
    assert_eq!(hist[6].0, "|2 V=over W=w /bin/sh -c echo $V");
    assert_eq!(hist[7].0, "/bin/sh -c #(nop)  SHELL [/bin/bash -c]");
    assert_eq!(hist[8].0, "|2 V=over W=w /bin/bash -c echo bash");
    assert_eq!(hist[9].0, "|2 V=over W=w /bin/echo exec form");
    // The build arg does not persist in the image's env.
    assert_eq!(
        c.config.env,
        Some(vec![BASE_ENV.to_string(), "E=1".to_string()])
    );
}

#[tokio::test]
async fn second_build_uses_cache_for_every_step() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "hello\n")]);
    let first = run_build(&host, ctx.path(), MAIN, &BuildOptions::default()).await;
    let id1 = first.id();
    let runs_before = host.runs().len();
    assert_eq!(runs_before, 1);
    let second = run_build(&host, ctx.path(), MAIN, &BuildOptions::default()).await;
    assert_eq!(second.id(), id1);
    assert_eq!(second.count(" ---> Using cache\n"), 8, "{}", second.text());
    assert_eq!(
        host.runs().len(),
        runs_before,
        "a cached build ran something"
    );
    assert!(!second.text().contains("Running in"));
    assert!(!second.text().contains("cache miss"));
}

#[tokio::test]
async fn changed_context_file_misses_copy_and_later_steps() {
    let host = FakeHost::new();
    let df = "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo hi\nENV B=2\n";
    let ctx = context(&[("f", "one\n")]);
    let id1 = run_build(&host, ctx.path(), df, &BuildOptions::default())
        .await
        .id();
    std::fs::write(ctx.path().join("f"), "two\n").unwrap();
    let out = run_build(&host, ctx.path(), df, &BuildOptions::default()).await;
    let id2 = out.id();
    assert_ne!(id1, id2);
    let text = out.text();
    assert_eq!(out.count(" ---> Using cache\n"), 1, "{text}");
    assert!(
        text.contains(" ---> cache miss: COPY f /f (f changed)\n"),
        "{text}"
    );
    assert!(
        text.contains(" ---> cache miss: RUN echo hi (previous step changed)\n"),
        "{text}"
    );
    assert!(
        text.contains(" ---> cache miss: ENV B=2 (previous step changed)\n"),
        "{text}"
    );
    assert_eq!(host.runs().len(), 2);
    assert_eq!(host.files(&id2)["/f"], b"two\n");
}

#[tokio::test]
async fn no_cache_runs_everything_without_miss_lines() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "hello\n")]);
    run_build(&host, ctx.path(), MAIN, &BuildOptions::default())
        .await
        .id();
    let opts = BuildOptions {
        no_cache: true,
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), MAIN, &opts).await;
    out.id();
    let text = out.text();
    assert!(!text.contains("Using cache"), "{text}");
    assert!(!text.contains("cache miss"), "{text}");
    assert_eq!(host.runs().len(), 2);
}

#[tokio::test]
async fn changed_build_arg_misses_the_run() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM busybox\nARG V=x\nRUN echo $V\n";
    run_build(&host, ctx.path(), df, &BuildOptions::default())
        .await
        .id();
    let opts = BuildOptions {
        build_args: args(&[("V", "y")]),
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), df, &opts).await;
    let id = out.id();
    let text = out.text();
    assert_eq!(out.count(" ---> Using cache\n"), 1, "{text}");
    assert!(
        text.contains(" ---> cache miss: RUN echo $V (build arg V changed)\n"),
        "{text}"
    );
    let runs = host.runs();
    assert_eq!(runs.len(), 2);
    assert!(runs[1].env.contains(&"V=y".to_string()));
    assert_eq!(
        created_by(&host.config(&id)).last().unwrap().0,
        "|1 V=y /bin/sh -c echo $V"
    );
}

#[tokio::test]
async fn failing_run_reports_its_code_and_removes_the_container() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM busybox\nRUN exit 3\nENV NEVER=1\n";
    let out = run_build(&host, ctx.path(), df, &BuildOptions::default()).await;
    let e = out.err();
    assert_eq!(e.code, 3);
    assert_eq!(
        e.error.message,
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    let text = out.text();
    assert!(text.contains("about to fail\n"), "{text}");
    assert!(!text.contains("Step 3/3"), "{text}");
    let st = host.state.lock().unwrap();
    assert!(st.containers.is_empty(), "container left behind");
    assert_eq!(st.removed.len(), 1);
    assert!(st.committed.is_empty());
}

const MULTI: &str = "FROM busybox
COPY f /f
FROM busybox AS unused
RUN echo unused
FROM busybox AS final
COPY --from=0 /f /g
RUN echo final
FROM busybox AS other
RUN echo other
";

#[tokio::test]
async fn multi_stage_target_skips_unneeded_stages() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "from ctx\n")]);
    let opts = BuildOptions {
        target: Some("final".into()),
        build_args: args(&[("X", "1")]),
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), MULTI, &opts).await;
    let id = out.id();
    let text = out.text();
    assert!(text.contains("Step 1/5 : FROM busybox"), "{text}");
    assert!(text.contains("Step 3/5 : FROM busybox AS final"), "{text}");
    assert!(!text.contains("unused"), "{text}");
    assert!(!text.contains("other"), "{text}");
    assert!(
        text.ends_with("[Warning] One or more build-args [X] were not consumed\n"),
        "{text}"
    );
    let runs = host.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo final"]);
    let files = host.files(&id);
    assert_eq!(files["/g"], b"from ctx\n");
    assert!(!files.contains_key("/f"));
}

#[tokio::test]
async fn multi_stage_default_target_is_the_last_stage() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "x")]);
    let out = run_build(&host, ctx.path(), MULTI, &BuildOptions::default()).await;
    out.id();
    let runs = host.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo other"]);
    assert!(out.text().starts_with("Step 1/2 : FROM busybox AS other"));
    assert!(!out.text().contains("[Warning]"));
}

#[tokio::test]
async fn onbuild_trigger_runs_after_from_and_is_not_inherited() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let out = run_build(
        &host,
        ctx.path(),
        "FROM onbase\nENV X=1\n",
        &BuildOptions::default(),
    )
    .await;
    let id = out.id();
    let text = out.text();
    let trig = text.find("# Executing 1 build trigger\n").expect(&text);
    let from = text.find("Step 1/2 : FROM onbase").unwrap();
    let env = text.find("Step 2/2 : ENV X=1").unwrap();
    assert!(from < trig && trig < env, "{text}");
    let runs = host.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo trig"]);
    assert_eq!(runs[0].image, Some(host.id_of("onbase")));
    let c = host.config(&id);
    assert_eq!(c.config.on_build, None);
    let hist = created_by(&c);
    assert_eq!(hist[1], ("/bin/sh -c echo trig".into(), false));
}

#[tokio::test]
async fn onbuild_base_with_no_further_instructions_has_no_onbuild() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let out = run_build(&host, ctx.path(), "FROM onbase\n", &BuildOptions::default()).await;
    let id = out.id();
    assert_eq!(host.runs().len(), 1);
    assert_eq!(host.config(&id).config.on_build, None);
}

#[tokio::test]
async fn labels_become_a_final_label_step() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let mut labels = BTreeMap::new();
    labels.insert("org.example.a".to_string(), "b".to_string());
    labels.insert("with space".to_string(), "x y".to_string());
    let opts = BuildOptions {
        labels,
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), "FROM busybox\nENV A=1\n", &opts).await;
    let id = out.id();
    assert_eq!(
        out.messages[out.messages.len() - 3],
        "Step 3/3 : LABEL org.example.a=b \"with space\"=\"x y\""
    );
    let c = host.config(&id);
    let l = c.config.labels.unwrap();
    assert_eq!(l["org.example.a"], "b");
    assert_eq!(l["with space"], "x y");
    assert!(c.history.last().unwrap().empty_layer);
}

#[tokio::test]
async fn source_date_epoch_makes_builds_reproducible() {
    let df = "FROM busybox\nENV A=1\nWORKDIR /new/dir\nCOPY f /f\nRUN echo hi\n";
    let opts = BuildOptions {
        build_args: args(&[("SOURCE_DATE_EPOCH", "1700000000")]),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for n in 0..2 {
        let host = FakeHost::new();
        let ctx = context(&[("f", "same\n")]);
        // The two contexts' mtimes differ by an hour; the layer must not show it.
        let mtime = std::time::SystemTime::now() - std::time::Duration::from_secs(3600 * n);
        std::fs::File::options()
            .write(true)
            .open(ctx.path().join("f"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let out = run_build(&host, ctx.path(), df, &opts).await;
        let id = out.id();
        assert!(!out.text().contains("[Warning]"), "{}", out.text());
        let c = host.config(&id);
        assert_eq!(c.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        for h in &c.history[1..] {
            assert_eq!(h.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        }
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn bad_source_date_epoch_is_invalid() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let opts = BuildOptions {
        build_args: args(&[("SOURCE_DATE_EPOCH", "soon")]),
        ..Default::default()
    };
    let e = run_build(&host, ctx.path(), "FROM busybox\n", &opts)
        .await
        .err();
    assert_eq!(e.error.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.code, 1);
}

#[tokio::test]
async fn syntax_error_names_the_line() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nNOTANINSTRUCTION x\n",
        &BuildOptions::default(),
    )
    .await;
    let e = out.err();
    assert_eq!(e.error.kind, ErrorKind::InvalidArgument);
    assert!(
        e.error.message.contains("dockerfile parse error line 2"),
        "{}",
        e.error.message
    );
    assert!(out.messages.is_empty());
}

#[tokio::test]
async fn unknown_target_fails() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "x")]);
    let opts = BuildOptions {
        target: Some("nope".into()),
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), MULTI, &opts).await;
    let e = out.err();
    assert!(e.error.message.contains("nope"), "{}", e.error.message);
    assert!(host.runs().is_empty());
}

#[tokio::test]
async fn scratch_alone_generates_no_image() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let e = run_build(
        &host,
        ctx.path(),
        "FROM scratch\n",
        &BuildOptions::default(),
    )
    .await
    .err();
    assert!(
        e.error.message.contains("No image was generated"),
        "{}",
        e.error.message
    );
}

#[tokio::test]
async fn missing_base_is_pulled_and_the_pull_error_returned() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let e = run_build(&host, ctx.path(), "FROM nosuch\n", &BuildOptions::default())
        .await
        .err();
    assert_eq!(e.error.kind, ErrorKind::NotFound);
    assert_eq!(host.state.lock().unwrap().pulls, ["nosuch"]);
}

#[tokio::test]
async fn copy_chown_resolves_names_from_the_image() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "x")]);
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY --chown=app:staff f /f\n",
        &BuildOptions::default(),
    )
    .await;
    out.id();
    // The layer's owner is only visible in the tar; the fake keeps content. Check the
    // cache key includes the owner: a numeric chown of the same IDs hits the cache.
    let again = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY --chown=1000:50 f /f\n",
        &BuildOptions::default(),
    )
    .await;
    again.id();
    assert_eq!(again.count(" ---> Using cache\n"), 1, "{}", again.text());
}

#[tokio::test]
async fn copy_chown_change_misses_the_cache() {
    let host = FakeHost::new();
    let ctx = context(&[("f", "x")]);
    run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY --chown=app:staff f /f\n",
        &BuildOptions::default(),
    )
    .await
    .id();
    let again = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY --chown=1001 f /f\n",
        &BuildOptions::default(),
    )
    .await;
    again.id();
    assert!(!again.text().contains("Using cache"), "{}", again.text());
    let e = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY --chown=nobody f /f\n",
        &BuildOptions::default(),
    )
    .await
    .err();
    assert!(e.error.message.contains("nobody"), "{}", e.error.message);
}

#[tokio::test]
async fn removed_step_image_is_a_miss_with_its_reason() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM busybox\nENV A=1\nRUN echo hi\n";
    let id = run_build(&host, ctx.path(), df, &BuildOptions::default())
        .await
        .id();
    host.state.lock().unwrap().images.remove(&id);
    let out = run_build(&host, ctx.path(), df, &BuildOptions::default()).await;
    let id2 = out.id();
    assert_ne!(id2, id, "a rebuilt step has a new created time");
    assert!(host.state.lock().unwrap().images.contains_key(&id2));
    let text = out.text();
    assert_eq!(out.count(" ---> Using cache\n"), 1, "{text}");
    assert!(
        text.contains(" ---> cache miss: RUN echo hi (its image was removed)\n"),
        "{text}"
    );
    assert_eq!(host.runs().len(), 2);
}

#[tokio::test]
async fn env_shadows_arg_in_run() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let opts = BuildOptions {
        build_args: args(&[("V", "cli")]),
        ..Default::default()
    };
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nARG V=x\nENV V=env\nRUN echo $V\n",
        &opts,
    )
    .await;
    let id = out.id();
    let runs = host.runs();
    assert_eq!(runs[0].env, [BASE_ENV, "V=env"]);
    assert_eq!(
        created_by(&host.config(&id)).last().unwrap().0,
        "/bin/sh -c echo $V"
    );
    assert!(!out.text().contains("[Warning]"), "{}", out.text());
}

#[tokio::test]
async fn global_arg_picks_the_base_and_counts_as_a_step() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let opts = BuildOptions {
        build_args: args(&[("IMG", "onbase")]),
        ..Default::default()
    };
    let out = run_build(
        &host,
        ctx.path(),
        "ARG IMG=busybox\nFROM $IMG\nENV A=1\n",
        &opts,
    )
    .await;
    let id = out.id();
    let text = out.text();
    assert!(text.starts_with("Step 1/3 : ARG IMG=busybox\n"), "{text}");
    assert!(text.contains("Step 2/3 : FROM $IMG\n"), "{text}");
    assert!(
        text.contains(&format!(" ---> {}\n", &host.id_of("onbase").hex()[..12])),
        "{text}"
    );
    assert!(!text.contains("[Warning]"), "{text}");
    // onbase's trigger ran.
    assert_eq!(host.runs().len(), 1);
    assert_eq!(host.config(&id).config.on_build, None);
}

#[tokio::test]
async fn source_date_epoch_applies_to_steps_found_in_the_cache() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM busybox\nENV A=1\nRUN echo hi\n";
    run_build(&host, ctx.path(), df, &BuildOptions::default())
        .await
        .id();
    let opts = BuildOptions {
        build_args: args(&[("SOURCE_DATE_EPOCH", "1700000000")]),
        ..Default::default()
    };
    let out = run_build(&host, ctx.path(), df, &opts).await;
    let id = out.id();
    let fresh = FakeHost::new();
    let want = run_build(&fresh, ctx.path(), df, &opts).await.id();
    assert_eq!(
        host.config(&id).created.as_deref(),
        Some("2023-11-14T22:13:20Z"),
        "{}",
        out.text()
    );
    assert_eq!(id, want);
}

#[tokio::test]
async fn onbuild_trigger_is_cached_on_the_second_build() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let df = "FROM onbase\nENV X=1\n";
    let id = run_build(&host, ctx.path(), df, &BuildOptions::default())
        .await
        .id();
    let out = run_build(&host, ctx.path(), df, &BuildOptions::default()).await;
    assert_eq!(out.id(), id);
    assert_eq!(out.count(" ---> Using cache\n"), 2, "{}", out.text());
    assert_eq!(host.runs().len(), 1);
}

#[tokio::test]
async fn workdir_that_exists_adds_no_layer() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nWORKDIR /etc\nWORKDIR sub/../x\n",
        &BuildOptions::default(),
    )
    .await;
    let c = host.config(&out.id());
    assert_eq!(c.config.working_dir, "/etc/x");
    let hist = created_by(&c);
    assert_eq!(hist[1], ("/bin/sh -c #(nop) WORKDIR /etc".into(), true));
    assert_eq!(hist[2], ("/bin/sh -c #(nop) WORKDIR /etc/x".into(), false));
    assert_eq!(c.rootfs.diff_ids.len(), 2);
}

#[tokio::test]
async fn stage_as_base_inherits_its_config() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox AS b\nENV A=1\nFROM b\nENV B=2\n",
        &BuildOptions::default(),
    )
    .await;
    let id = out.id();
    let m = &out.messages;
    let i = m.iter().position(|s| s == "Step 3/4 : FROM b").unwrap();
    let stage_b = &m[i - 1];
    assert!(is_short_id_line(stage_b));
    assert_eq!(&m[i + 2], stage_b, "FROM b starts on stage b's image");
    assert_eq!(
        host.config(&id).config.env,
        Some(vec![BASE_ENV.into(), "A=1".into(), "B=2".into()])
    );
}

#[tokio::test]
async fn copy_heredoc_and_add_archive() {
    let host = FakeHost::new();
    let ctx = context(&[]);
    let mut ar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    ar.append_data(&mut h, "inner.txt", &b"abc"[..]).unwrap();
    std::fs::write(ctx.path().join("a.tar"), ar.into_inner().unwrap()).unwrap();
    let out = run_build(
        &host,
        ctx.path(),
        "FROM busybox\nCOPY <<EOF /h.txt\nhello\nEOF\nADD a.tar /x/\n",
        &BuildOptions::default(),
    )
    .await;
    let files = host.files(&out.id());
    assert_eq!(files["/h.txt"], b"hello\n");
    assert_eq!(files["/x/inner.txt"], b"abc");
    assert!(!files.contains_key("/x/a.tar"));
}

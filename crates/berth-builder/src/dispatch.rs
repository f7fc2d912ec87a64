//! What each instruction does to the image config, and the `CreatedBy` text dockerd's
//! legacy builder records for it. Pure: the executor decides what runs and what is cached.

use berth_dockerfile::{CmdLine, Command, Healthcheck, Instruction};
use berth_model::api::HealthConfig;
use berth_model::image::{ImageConfig, ImageRunConfig};
use std::collections::BTreeMap;

/// The shell of a stage when no SHELL was given.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// The stage's SHELL.
pub fn shell_of(cfg: &ImageRunConfig) -> Vec<String> {
    cfg.shell
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(default_shell)
}

/// Go's `%q` for a string list (`["cat" "/app/out.txt"]`), as dockerd prints CMD.
fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` for a string list (`[/bin/bash -c]`).
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `CreatedBy` of a metadata instruction: `/bin/sh -c #(nop)  ENV FOO=bar`. dockerd puts two
/// spaces after `#(nop)` for these and one for WORKDIR, COPY and ADD.
pub fn nop(shell: &[String], text: &str) -> String {
    format!("{} #(nop) {text}", shell.join(" "))
}

/// The argv of a CMD/ENTRYPOINT/RUN: the shell form runs under the stage's SHELL.
pub fn argv_of(c: &CmdLine, shell: &[String]) -> Vec<String> {
    if c.prepend_shell {
        let mut v = shell.to_vec();
        v.push(c.args.join(" "));
        v
    } else {
        c.args.clone()
    }
}

/// Nanoseconds, as Docker's config stores durations.
fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Applies a metadata instruction (already expanded) to `cfg`; returns the history text
/// after `#(nop)`, or `None` for instructions that are not metadata-only (FROM, RUN,
/// COPY, ADD, WORKDIR).
pub fn apply_metadata(img: &mut ImageConfig, ins: &Instruction) -> Option<String> {
    let shell = shell_of(&img.config);
    let cfg = &mut img.config;
    let text = match &ins.command {
        Command::Maintainer(m) => {
            img.author = Some(m.clone());
            format!("MAINTAINER {m}")
        }
        Command::Env(kvs) => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            let mut msg = String::from("ENV");
            for kv in kvs {
                let prefix = format!("{}=", kv.key);
                match env
                    .iter_mut()
                    .find(|e| e.starts_with(&prefix) || **e == kv.key)
                {
                    Some(e) => *e = format!("{}={}", kv.key, kv.value),
                    None => env.push(format!("{}={}", kv.key, kv.value)),
                }
                msg.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            msg
        }
        Command::Label(kvs) => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            let mut msg = String::from("LABEL");
            for kv in kvs {
                labels.insert(kv.key.clone(), kv.value.clone());
                msg.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            msg
        }
        Command::Arg(decls) => {
            let mut msg = String::from("ARG");
            for d in decls {
                match &d.value {
                    Some(v) => msg.push_str(&format!(" {}={v}", d.key)),
                    None => msg.push_str(&format!(" {}", d.key)),
                }
            }
            msg
        }
        Command::Cmd(c) => {
            let argv = argv_of(c, &shell);
            let msg = format!("CMD {}", go_quoted(&argv));
            cfg.cmd = Some(argv);
            msg
        }
        Command::Entrypoint(c) => {
            let argv = argv_of(c, &shell);
            let msg = format!("ENTRYPOINT {}", go_quoted(&argv));
            cfg.entrypoint = Some(argv);
            // dockerd drops an inherited CMD when ENTRYPOINT is set (unless CMD follows).
            cfg.cmd = None;
            msg
        }
        Command::Expose(ports) => {
            let map = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in ports {
                let key = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                // dockerd stores `EXPOSE 80-81` as one key per port.
                for k in expand_expose_key(&key) {
                    map.insert(k, serde_json::json!({}));
                }
            }
            format!("EXPOSE {}", ports.join(" "))
        }
        Command::User(u) => {
            cfg.user = u.clone();
            format!("USER {u}")
        }
        Command::Volume(vols) => {
            let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
            for v in vols {
                map.insert(v.clone(), serde_json::json!({}));
            }
            format!("VOLUME {}", go_list(vols))
        }
        Command::StopSignal(s) => {
            cfg.stop_signal = s.clone();
            format!("STOPSIGNAL {s}")
        }
        Command::Healthcheck(h) => {
            let hc = match h {
                Healthcheck::None => HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                },
                Healthcheck::Cmd(c) => HealthConfig {
                    test: Some(c.test.clone()),
                    interval: ns(c.interval),
                    timeout: ns(c.timeout),
                    start_period: ns(c.start_period),
                    retries: i64::from(c.retries),
                    ..Default::default()
                },
            };
            let msg = format!(
                "HEALTHCHECK {}",
                go_quoted(hc.test.as_deref().unwrap_or_default())
            );
            cfg.healthcheck = serde_json::to_value(&hc).ok();
            msg
        }
        Command::Shell(s) => {
            cfg.shell = Some(s.clone());
            format!("SHELL {}", go_list(s))
        }
        Command::OnBuild(o) => {
            cfg.on_build
                .get_or_insert_with(Vec::new)
                .push(o.expression.clone());
            format!("ONBUILD {}", o.expression)
        }
        Command::From(_)
        | Command::Run(_)
        | Command::Add(_)
        | Command::Copy(_)
        | Command::Workdir(_) => return None,
    };
    Some(nop(&shell, &format!(" {text}")))
}

/// Docker's `WORKDIR` rule: relative to the previous one, cleaned.
/// `80-81/tcp` → `80/tcp`, `81/tcp`; any other key as it is.
fn expand_expose_key(key: &str) -> Vec<String> {
    let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    match berth_model::ports::port_range(num) {
        Some((a, b)) if num.contains('-') => (a..=b).map(|p| format!("{p}/{proto}")).collect(),
        _ => vec![key.to_string()],
    }
}

pub fn resolve_workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let base = if current.is_empty() { "/" } else { current };
        format!("{}/{dir}", base.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `CreatedBy` of a RUN: its argv, after `|N K=V ...` when build args are in effect.
pub fn run_created_by(argv: &[String], args: &[(String, String)]) -> String {
    let mut s = String::new();
    if !args.is_empty() {
        s.push_str(&format!("|{}", args.len()));
        for (k, v) in args {
            s.push_str(&format!(" {k}={v}"));
        }
        s.push(' ');
    }
    s.push_str(&argv.join(" "));
    s
}

/// The argv of a RUN, heredocs included. A RUN that is only a heredoc (`RUN <<EOF`) runs
/// the body as the script, as BuildKit does; any other command gets its heredocs back in
/// the script, where the shell reads them.
pub fn run_argv(run: &berth_dockerfile::Run, shell: &[String]) -> Vec<String> {
    if run.heredocs.is_empty() || !run.cmd.prepend_shell {
        return argv_of(&run.cmd, shell);
    }
    let cmd = run.cmd.args.join(" ");
    let only_heredoc = run.heredocs.len() == 1 && {
        let t = cmd.trim();
        t.starts_with("<<") && !t.contains(char::is_whitespace)
    };
    let mut v = shell.to_vec();
    if only_heredoc {
        let body = &run.heredocs[0].content;
        if body.starts_with("#!") {
            // A shebang picks the interpreter: the body is written out and run by it.
            v.push(format!(
                "f=$(mktemp) && cat > \"$f\" <<'BERTH_HEREDOC_EOF'\n{body}BERTH_HEREDOC_EOF\nchmod +x \"$f\" && \"$f\"; r=$?; rm -f \"$f\"; exit $r"
            ));
        } else {
            v.push(body.clone());
        }
        return v;
    }
    let mut script = cmd;
    for h in &run.heredocs {
        script.push('\n');
        script.push_str(&h.content);
        script.push_str(&h.name);
    }
    v.push(script);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_dockerfile::Dockerfile;

    fn ins(src: &str) -> Instruction {
        let df =
            Dockerfile::parse(format!("FROM scratch\n{src}\n").as_bytes(), "Dockerfile").unwrap();
        df.stages[0].instructions[0].clone()
    }

    #[test]
    fn metadata_history_text_matches_dockerd() {
        let mut c = ImageConfig::default();
        assert_eq!(
            apply_metadata(&mut c, &ins("ENV FOO=bar")).unwrap(),
            "/bin/sh -c #(nop)  ENV FOO=bar"
        );
        assert_eq!(c.config.env, Some(vec!["FOO=bar".to_string()]));
        assert_eq!(
            apply_metadata(&mut c, &ins("CMD [\"cat\", \"/app/out.txt\"]")).unwrap(),
            "/bin/sh -c #(nop)  CMD [\"cat\" \"/app/out.txt\"]"
        );
        assert_eq!(
            apply_metadata(&mut c, &ins("EXPOSE 8080")).unwrap(),
            "/bin/sh -c #(nop)  EXPOSE 8080"
        );
        assert!(c
            .config
            .exposed_ports
            .as_ref()
            .unwrap()
            .contains_key("8080/tcp"));
        apply_metadata(&mut c, &ins("EXPOSE 80-81/UDP 90")).unwrap();
        let keys: Vec<&String> = c.config.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(keys, ["80/udp", "8080/tcp", "81/udp", "90/tcp"]);
        assert_eq!(
            apply_metadata(&mut c, &ins("LABEL org.example.research=1")).unwrap(),
            "/bin/sh -c #(nop)  LABEL org.example.research=1"
        );
        assert_eq!(
            apply_metadata(&mut c, &ins("ARG GREETING=hi")).unwrap(),
            "/bin/sh -c #(nop)  ARG GREETING=hi"
        );
        assert!(apply_metadata(&mut c, &ins("RUN true")).is_none());
    }

    #[test]
    fn env_replaces_and_shell_changes_history_prefix() {
        let mut c = ImageConfig::default();
        c.config.env = Some(vec!["PATH=/bin".into(), "A=1".into()]);
        apply_metadata(&mut c, &ins("ENV A=2 B=3"));
        assert_eq!(
            c.config.env.clone().unwrap(),
            vec!["PATH=/bin".to_string(), "A=2".into(), "B=3".into()]
        );
        apply_metadata(&mut c, &ins("SHELL [\"/bin/bash\", \"-c\"]"));
        assert_eq!(
            apply_metadata(&mut c, &ins("CMD echo hi")).unwrap(),
            "/bin/bash -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"echo hi\"]"
        );
        assert_eq!(
            c.config.cmd,
            Some(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()])
        );
    }

    #[test]
    fn entrypoint_clears_inherited_cmd() {
        let mut c = ImageConfig::default();
        c.config.cmd = Some(vec!["sh".into()]);
        apply_metadata(&mut c, &ins("ENTRYPOINT [\"top\"]"));
        assert_eq!(c.config.entrypoint, Some(vec!["top".into()]));
        assert_eq!(c.config.cmd, None);
    }

    #[test]
    fn healthcheck_volume_user_stopsignal_onbuild() {
        let mut c = ImageConfig::default();
        apply_metadata(
            &mut c,
            &ins("HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost"),
        );
        let hc = c.config.healthcheck.clone().unwrap();
        assert_eq!(hc["Test"][0], "CMD-SHELL");
        assert_eq!(hc["Interval"], 5_000_000_000i64);
        assert_eq!(hc["Retries"], 2);
        apply_metadata(&mut c, &ins("HEALTHCHECK NONE"));
        assert_eq!(c.config.healthcheck.clone().unwrap()["Test"][0], "NONE");
        apply_metadata(&mut c, &ins("VOLUME /data /logs"));
        assert_eq!(c.config.volumes.as_ref().unwrap().len(), 2);
        apply_metadata(&mut c, &ins("USER 1000:1000"));
        assert_eq!(c.config.user, "1000:1000");
        apply_metadata(&mut c, &ins("STOPSIGNAL SIGKILL"));
        assert_eq!(c.config.stop_signal, "SIGKILL");
        apply_metadata(&mut c, &ins("ONBUILD RUN echo hi"));
        assert_eq!(c.config.on_build, Some(vec!["RUN echo hi".to_string()]));
    }

    #[test]
    fn workdir_is_relative_to_the_previous_one() {
        assert_eq!(resolve_workdir("", "/app"), "/app");
        assert_eq!(resolve_workdir("/app", "src"), "/app/src");
        assert_eq!(resolve_workdir("/app/src", "../lib/."), "/app/lib");
        assert_eq!(resolve_workdir("", "rel"), "/rel");
    }

    #[test]
    fn run_history_names_build_args() {
        let argv = vec!["/bin/sh".into(), "-c".into(), "echo hi".into()];
        assert_eq!(run_created_by(&argv, &[]), "/bin/sh -c echo hi");
        assert_eq!(
            run_created_by(&argv, &[("GREETING".into(), "hi".into())]),
            "|1 GREETING=hi /bin/sh -c echo hi"
        );
    }

    #[test]
    fn heredoc_runs_as_script() {
        let df = Dockerfile::parse(
            b"FROM scratch\nRUN <<EOF\necho a\necho b\nEOF\nRUN cat <<X > /f\nhello\nX\n",
            "Dockerfile",
        )
        .unwrap();
        let run = |i: usize| match &df.stages[0].instructions[i].command {
            Command::Run(r) => r.clone(),
            _ => unreachable!(),
        };
        let sh = default_shell();
        assert_eq!(run_argv(&run(0), &sh)[2], "echo a\necho b\n");
        assert_eq!(run_argv(&run(1), &sh)[2], "cat <<X > /f\nhello\nX");
    }
}

//! `--security-opt` as the docker CLI sends it: a `seccomp=` option naming a file is
//! replaced by the file's compacted JSON, since the daemon may not see the client's files.

use anyhow::bail;

/// The profiles the daemon knows by name; anything else is a file to read.
const BUILTIN_PROFILES: [&str; 2] = ["builtin", "unconfined"];

/// docker's `parseSecurityOpts`: checks each option has a value (only `no-new-privileges`
/// may stand alone) and inlines seccomp profile files.
pub fn parse_security_opts(opts: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(opts.len());
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None if opt == "no-new-privileges" => (opt.as_str(), ""),
            None => opt.split_once(':').unwrap_or((opt.as_str(), "")),
        };
        if value.is_empty() && key != "no-new-privileges" {
            bail!("Invalid --security-opt: {opt:?}");
        }
        if key == "seccomp" && !BUILTIN_PROFILES.contains(&value) {
            let content = std::fs::read(value).map_err(|e| {
                anyhow::anyhow!(
                    "opening seccomp profile ({value}) failed: open {value}: {}",
                    go_errno_text(&e)
                )
            })?;
            let compact = compact_json(&content).map_err(|e| {
                anyhow::anyhow!("compacting json for seccomp profile ({value}) failed: {e}")
            })?;
            out.push(format!("seccomp={compact}"));
            continue;
        }
        out.push(opt.clone());
    }
    Ok(out)
}

/// docker's `ValidateDeviceCgroupRule`: `TYPE MAJOR:MINOR ACCESS` with `a`, `b` or `c`,
/// numbers or `*`, and one to three of `rwm`; checked when the flag is parsed.
pub fn validate_device_cgroup_rule(rule: &str) -> Result<(), String> {
    let number = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let ok = match rule.split(' ').collect::<Vec<_>>().as_slice() {
        [typ, nums, access] => {
            matches!(*typ, "a" | "b" | "c")
                && nums
                    .split_once(':')
                    .is_some_and(|(major, minor)| number(major) && number(minor))
                && (1..=3).contains(&access.len())
                && access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid device cgroup format '{rule}'"))
    }
}

/// Go prints an errno as the lower-case C text ("no such file or directory").
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's `json.Compact`: the same document without insignificant whitespace, keys and
/// numbers kept exactly as written (re-serialising would reorder or reformat them).
fn compact_json(input: &[u8]) -> anyhow::Result<String> {
    let text = std::str::from_utf8(input)?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)?;
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(opts: &[&str]) -> Vec<String> {
        opts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn profile_file_is_sent_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(
            &path,
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"comment\": \"a b\\\" c\"}\n  ]\n}\n",
        )
        .unwrap();
        let opt = format!("seccomp={}", path.display());
        assert_eq!(
            parse_security_opts(&v(&[&opt, "no-new-privileges"])).unwrap(),
            v(&[
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","comment":"a b\" c"}]}"#,
                "no-new-privileges"
            ])
        );
    }

    #[test]
    fn builtin_names_and_other_options_pass_through() {
        let opts = v(&[
            "seccomp=unconfined",
            "seccomp=builtin",
            "no-new-privileges",
            "no-new-privileges=true",
            "apparmor:unconfined",
            "label=disable",
        ]);
        assert_eq!(parse_security_opts(&opts).unwrap(), opts);
    }

    #[test]
    fn device_cgroup_rules() {
        for good in ["c 1:3 rwm", "a *:* m", "b 7:* r"] {
            assert!(validate_device_cgroup_rule(good).is_ok(), "{good}");
        }
        for bad in ["c 1:3", "x 1:3 r", "c 1:3 rwmr", "c :3 r", "c 1:3 q"] {
            assert_eq!(
                validate_device_cgroup_rule(bad).unwrap_err(),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn errors_use_docker_wording() {
        let err = parse_security_opts(&v(&["seccomp=/nonexistent/p.json"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "opening seccomp profile (/nonexistent/p.json) failed: open /nonexistent/p.json: no such file or directory"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = parse_security_opts(&v(&[&format!("seccomp={}", path.display())])).unwrap_err();
        assert!(err.to_string().starts_with(&format!(
            "compacting json for seccomp profile ({}) failed: ",
            path.display()
        )));
        for bad in ["seccomp", "label=", "bogus"] {
            assert_eq!(
                parse_security_opts(&v(&[bad])).unwrap_err().to_string(),
                format!("Invalid --security-opt: {bad:?}")
            );
        }
    }
}

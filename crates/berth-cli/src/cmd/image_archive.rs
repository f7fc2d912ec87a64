//! `berth save`, `berth load` and `berth commit` (also as `berth image save|load` and
//! `berth container commit`).

use crate::client::{empty, query, Client};
use crate::errors::StatusError;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

fn refuse_terminal() -> anyhow::Error {
    StatusError {
        code: 1,
        message: Some(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ),
    }
    .into()
}

pub async fn save(client: &Client, a: SaveArgs) -> anyhow::Result<i32> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(refuse_terminal());
    }
    let q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = client
        .send(
            Method::GET,
            &format!("/images/get{}", query(&q)),
            None,
            empty(),
        )
        .await?;
    let mut body = resp.into_body();
    match &a.output {
        Some(path) => {
            crate::cmd::filesystem::to_file(path, &mut body, "failed to save image").await?
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    out.write_all(&data)?;
                }
            }
            out.flush()?;
        }
    }
    Ok(0)
}

pub async fn load(client: &Client, a: LoadArgs) -> anyhow::Result<i32> {
    let source = a.input.clone().unwrap_or_else(|| "-".into());
    if source == "-" && std::io::stdin().is_terminal() {
        return Err(StatusError {
            code: 1,
            message: Some("requested load from stdin, but stdin is empty".into()),
        }
        .into());
    }
    let body = crate::cmd::image::file_body(&source)?;
    let q = if a.quiet { "?quiet=1" } else { "?quiet=0" };
    let resp = client
        .send(
            Method::POST,
            &format!("/images/load{q}"),
            Some("application/x-tar"),
            body,
        )
        .await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let mut out = String::new();
    for msg in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        let msg = msg?;
        if let Some(e) = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or(msg.get("error"))
        {
            anyhow::bail!("{}", e.as_str().unwrap_or_default());
        }
        if let Some(s) = msg.get("stream").and_then(|s| s.as_str()) {
            out.push_str(s);
        }
    }
    print!("{out}");
    Ok(0)
}

pub async fn commit(client: &Client, a: CommitArgs) -> anyhow::Result<i32> {
    let mut q = vec![
        ("container", a.container.clone()),
        ("repo", a.reference.clone().unwrap_or_default()),
        ("tag", String::new()),
        ("comment", a.message.clone().unwrap_or_default()),
        ("author", a.author.clone().unwrap_or_default()),
    ];
    if !a.pause {
        q.push(("pause", "0".into()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let v: serde_json::Value = client
        .post_json(&format!("/commit{}", query(&q)), &serde_json::Value::Null)
        .await?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct C {
        #[command(flatten)]
        a: CommitArgs,
    }

    #[test]
    fn commit_flags_like_docker() {
        let c = C::try_parse_from([
            "commit",
            "-m",
            "msg",
            "-a",
            "me",
            "-c",
            "CMD [\"sh\"]",
            "--pause=false",
            "ctr",
            "repo:tag",
        ])
        .unwrap()
        .a;
        assert!(!c.pause);
        assert_eq!(c.change, ["CMD [\"sh\"]"]);
        assert_eq!(c.reference.as_deref(), Some("repo:tag"));
        let c = C::try_parse_from(["commit", "ctr"]).unwrap().a;
        assert!(c.pause);
    }
}

//! `berth export` and `berth diff` (also as `berth container export|diff`).

use crate::client::{empty, seg, Client};
use crate::errors::StatusError;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

/// docker's line per change, in the daemon's (path) order.
pub fn render_changes(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let k = match c.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        out.push_str(k);
        out.push(' ');
        out.push_str(&c.path);
        out.push('\n');
    }
    out
}

pub async fn diff(client: &Client, a: DiffArgs) -> anyhow::Result<i32> {
    // dockerd answers `null` when nothing changed.
    let changes: Option<Vec<Change>> = client
        .get_json(&format!("/containers/{}/changes", seg(&a.container)))
        .await?;
    print!("{}", render_changes(&changes.unwrap_or_default()));
    Ok(0)
}

/// docker refuses before contacting the daemon, so a terminal never receives binary.
pub async fn export(client: &Client, a: ExportArgs) -> anyhow::Result<i32> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(StatusError {
            code: 1,
            message: Some(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
            ),
        }
        .into());
    }
    let resp = client
        .send(
            Method::GET,
            &format!("/containers/{}/export", seg(&a.container)),
            None,
            empty(),
        )
        .await?;
    let mut body = resp.into_body();
    match &a.output {
        Some(path) => to_file(path, &mut body, "failed to export container").await?,
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

/// Written beside the target then renamed, as docker does, so a failed export never
/// leaves a truncated tar under the requested name.
pub(crate) async fn to_file(
    path: &Path,
    body: &mut hyper::body::Incoming,
    what: &str,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("invalid output path {}", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = async {
        let mut f = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", tmp.display()))?;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                f.write_all(&data).await?;
            }
        }
        f.sync_all().await?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", path.display()))
    }
    .await;
    if res.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_print_as_docker() {
        let c: Vec<Change> = serde_json::from_str(
            r#"[{"Path":"/bin","Kind":0},{"Path":"/bin/ls","Kind":2},{"Path":"/new","Kind":1}]"#,
        )
        .unwrap();
        assert_eq!(render_changes(&c), "C /bin\nD /bin/ls\nA /new\n");
        let none: Option<Vec<Change>> = serde_json::from_str("null").unwrap();
        assert!(none.is_none());
    }
}

//! `images` and `import`.

use crate::client::{query, streaming, Client};
use crate::cmd::container::filters_json;
use crate::format::{created_at, human_size, short_id};
use crate::template::{render_rows, string_map};
use crate::types::ImageRow;
use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;

#[derive(Debug, Clone, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGES_TABLE_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Splits `host:5000/repo:tag` at the tag's colon, not the port's.
pub fn split_repo_tag(s: &str) -> (String, String) {
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[slash..].rfind(':') {
        Some(i) => (s[..slash + i].to_string(), s[slash + i + 1..].to_string()),
        None => (s.to_string(), "<none>".to_string()),
    }
}

/// One row per tag, as docker lists them; untagged images get one `<none>` row.
pub fn image_rows(img: &ImageRow, trunc: bool, now: f64) -> Vec<gotmpl::Value> {
    let id = if trunc {
        short_id(&img.id)
    } else {
        img.id.clone()
    };
    let digests: Vec<(String, String)> = img
        .repo_digests
        .iter()
        .flatten()
        .filter_map(|d| {
            d.split_once('@')
                .map(|(r, d)| (r.to_string(), d.to_string()))
        })
        .collect();
    let mut pairs: Vec<(String, String)> = img
        .repo_tags
        .iter()
        .flatten()
        .map(|t| {
            if t == "<none>:<none>" {
                ("<none>".to_string(), "<none>".to_string())
            } else {
                split_repo_tag(t)
            }
        })
        .collect();
    if pairs.is_empty() {
        pairs = digests
            .iter()
            .map(|(r, _)| (r.clone(), "<none>".to_string()))
            .collect();
        pairs.dedup();
    }
    if pairs.is_empty() {
        pairs.push(("<none>".into(), "<none>".into()));
    }
    let created_since = format!(
        "{} ago",
        crate::format::human_duration((now - img.created as f64).max(0.0))
    );
    pairs
        .into_iter()
        .map(|(repo, tag)| {
            let digest = digests
                .iter()
                .find(|(r, _)| *r == repo)
                .map_or("<none>".to_string(), |(_, d)| d.clone());
            string_map(&[
                ("ID", id.clone()),
                ("Repository", repo),
                ("Tag", tag),
                ("Digest", digest),
                ("CreatedSince", created_since.clone()),
                ("CreatedAt", created_at(img.created)),
                ("Size", human_size(img.size as f64, 3)),
                ("VirtualSize", human_size(img.size as f64, 3)),
                ("SharedSize", human_size(img.shared_size.max(0) as f64, 3)),
                ("Containers", img.containers.to_string()),
            ])
        })
        .collect()
}

fn image_headers() -> Vec<(&'static str, String)> {
    [
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("Containers", "CONTAINERS"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

pub fn render_images(images: &[ImageRow], a: &ImagesArgs, now: f64) -> anyhow::Result<String> {
    let trunc = !a.no_trunc;
    if a.quiet {
        let mut seen = Vec::new();
        for i in images {
            let id = if trunc { short_id(&i.id) } else { i.id.clone() };
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        return Ok(seen.iter().map(|s| format!("{s}\n")).collect());
    }
    let format = match a.format.as_deref() {
        None | Some("") | Some("table") if a.digests => IMAGES_TABLE_DIGESTS,
        None | Some("") | Some("table") => IMAGES_TABLE,
        Some(f) => f,
    };
    let rows: Vec<_> = images
        .iter()
        .flat_map(|i| image_rows(i, trunc, now))
        .collect();
    render_rows(format, &image_headers(), &rows)
}

pub async fn images(client: &Client, a: ImagesArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    if a.all {
        q.push(("all", "1".to_string()));
    }
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    client.ping().await?;
    let list: Vec<ImageRow> = client
        .get_json(&format!("/images/json{}", query(&q)))
        .await?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    print!("{}", render_images(&list, &a, now)?);
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// file|URL|- : the tarball to import
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// Streams a file (or our stdin) as the request body without reading it whole.
pub(crate) fn file_body(source: &str) -> anyhow::Result<crate::client::ReqBody> {
    use std::io::Read;
    let reader: Box<dyn std::io::Read + Send> = if source == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(source).map_err(|e| anyhow::anyhow!("open {source}: {e}"))?)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(streaming(stream))
}

/// Reads a JSON message stream (`{"status":…}` / `{"error":…}` lines), printing statuses.
pub fn handle_json_messages(text: &str, out: &mut String) -> anyhow::Result<()> {
    let de = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    for msg in de {
        let msg = msg?;
        if let Some(e) = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or(msg.get("error"))
        {
            anyhow::bail!("{}", e.as_str().unwrap_or_default());
        }
        if let Some(s) = msg.get("status").and_then(|s| s.as_str()) {
            if msg.get("progress").is_none() {
                match msg.get("id").and_then(|i| i.as_str()) {
                    Some(id) => out.push_str(&format!("{id}: {s}\n")),
                    None => out.push_str(&format!("{s}\n")),
                }
            }
        }
    }
    Ok(())
}

pub async fn import(client: &Client, a: ImportArgs) -> anyhow::Result<i32> {
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let mut q = vec![
        (
            "fromSrc",
            if is_url {
                a.source.clone()
            } else {
                "-".to_string()
            },
        ),
        ("message", a.message.clone().unwrap_or_default()),
        ("repo", a.reference.clone().unwrap_or_default()),
        ("tag", String::new()),
    ];
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let body = if is_url {
        crate::client::empty()
    } else {
        file_body(&a.source)?
    };
    client.ping().await?;
    let resp = client
        .send(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            Some("text/plain"),
            body,
        )
        .await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let mut out = String::new();
    handle_json_messages(&String::from_utf8_lossy(&bytes), &mut out)?;
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct I {
        #[command(flatten)]
        a: ImagesArgs,
    }

    fn args(argv: &[&str]) -> ImagesArgs {
        I::try_parse_from(std::iter::once("images").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    const TRACE: &str = r#"[{"Containers":-1,"Created":1795948901,"Id":"sha256:c5d0e22aaf7a42bbcbf3b64bd1067d189a33a8ed690974760ef46c57ff18158d","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["busybox:latest"],"SharedSize":-1,"Size":1985573,"VirtualSize":1985573},{"Containers":-1,"Created":1795948813,"Id":"sha256:8ad912e6fb627a7095baf509bdbc5059382bbf1df83130fd1ee2c1842fe85eb3","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["127.0.0.1:5000/big:1"],"SharedSize":-1,"Size":106839933,"VirtualSize":106839933},{"Containers":-1,"Created":1795948406,"Id":"sha256:a4bbbc928b6b87322d9f2dc8812a86e9c947192306f3b3166bb8f5e89320a5d7","Labels":null,"ParentId":"","RepoDigests":["<none>@<none>"],"RepoTags":["<none>:<none>"],"SharedSize":-1,"Size":1982333,"VirtualSize":1982333}]"#;

    #[test]
    fn images_table_like_docker() {
        let list: Vec<ImageRow> = serde_json::from_str(TRACE).unwrap();
        // The trace's CLI ran about 70 s after the first image was created.
        let out = render_images(&list, &args(&[]), 1795948971.0).unwrap();
        let want = "REPOSITORY           TAG       IMAGE ID       CREATED              SIZE\n\
                    busybox              latest    c5d0e22aaf7a   About a minute ago   1.99MB\n\
                    127.0.0.1:5000/big   1         8ad912e6fb62   2 minutes ago        107MB\n\
                    <none>               <none>    a4bbbc928b6b   9 minutes ago        1.98MB\n";
        assert_eq!(out, want);
        let q = render_images(&list, &args(&["-q"]), 0.0).unwrap();
        assert_eq!(q, "c5d0e22aaf7a\n8ad912e6fb62\na4bbbc928b6b\n");
        let nt = render_images(
            &list[..1],
            &args(&["--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]),
            0.0,
        )
        .unwrap();
        assert_eq!(nt, "sha256:c5d0e22aaf7a42bbcbf3b64bd1067d189a33a8ed690974760ef46c57ff18158d busybox:latest\n");
    }

    #[test]
    fn repo_tag_split() {
        assert_eq!(
            split_repo_tag("busybox:latest"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            split_repo_tag("127.0.0.1:5000/big:1"),
            ("127.0.0.1:5000/big".into(), "1".into())
        );
        assert_eq!(
            split_repo_tag("127.0.0.1:5000/big"),
            ("127.0.0.1:5000/big".into(), "<none>".into())
        );
    }

    #[test]
    fn json_message_stream() {
        let mut out = String::new();
        handle_json_messages("{\"status\":\"sha256:abc\"}\r\n", &mut out).unwrap();
        assert_eq!(out, "sha256:abc\n");
        let err = handle_json_messages(
            "{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}",
            &mut out,
        );
        assert_eq!(err.unwrap_err().to_string(), "bad tar");
    }
}

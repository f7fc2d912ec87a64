//! `tag`, `rmi`, `history`, `image prune` and the `image` command group.

use crate::client::{query, seg, Client};
use crate::cmd::container::filters_json;
use crate::format::{created_at, ellipsis, human_duration, human_size, short_id};
use crate::template::{render_rows, string_map};
use berth_model::Reference;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;
use std::io::Write;

#[derive(Debug, Clone, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// The query the docker CLI sends: the full repository name and the tag apart (`latest`
/// when none was given).
pub fn tag_query(target: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let r = Reference::parse_normalized(target).map_err(|e| {
        anyhow::anyhow!("Error parsing reference: {target:?} is not a valid repository/tag: {e}")
    })?;
    if r.digest.is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    Ok(vec![
        ("repo", r.full_name()),
        ("tag", r.tag.clone().unwrap_or_default()),
    ])
}

pub async fn tag(client: &Client, a: TagArgs) -> anyhow::Result<i32> {
    let q = match tag_query(&a.target) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    client.ping().await?;
    client
        .post(&format!("/images/{}/tag{}", seg(&a.source), query(&q)))
        .await?;
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DeleteItem {
    #[serde(rename = "Untagged", default)]
    pub untagged: Option<String>,
    #[serde(rename = "Deleted", default)]
    pub deleted: Option<String>,
}

/// `Untagged: …` / `Deleted: …` lines as `docker rmi` prints them.
pub fn rmi_lines(items: &[DeleteItem]) -> String {
    let mut out = String::new();
    for i in items {
        if let Some(u) = i.untagged.as_deref().filter(|u| !u.is_empty()) {
            out.push_str(&format!("Untagged: {u}\n"));
        } else if let Some(d) = &i.deleted {
            out.push_str(&format!("Deleted: {d}\n"));
        }
    }
    out
}

/// Every image is tried; errors are reported as they come and make the exit status 1.
pub async fn rmi(client: &Client, a: RmiArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.no_prune {
        q.push(("noprune", "1".to_string()));
    }
    let mut code = 0;
    for name in &a.images {
        let res = async {
            let resp = client
                .send(
                    Method::DELETE,
                    &format!("/images/{}{}", seg(name), query(&q)),
                    None,
                    crate::client::empty(),
                )
                .await?;
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>(serde_json::from_slice::<Vec<DeleteItem>>(&bytes)?)
        }
        .await;
        match res {
            Ok(items) => {
                print!("{}", rmi_lines(&items));
                let _ = std::io::stdout().flush();
            }
            Err(e) => {
                crate::errors::report(&e);
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// IMAGE
    pub image: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryRow {
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Created", default)]
    pub created: i64,
    #[serde(rename = "CreatedBy", default)]
    pub created_by: String,
    #[serde(rename = "Size", default)]
    pub size: i64,
    #[serde(rename = "Comment", default)]
    pub comment: String,
    #[serde(rename = "Tags", default)]
    pub tags: Option<Vec<String>>,
}

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// `docker history`'s fields: IDs, times and sizes shortened as its formatter does.
pub fn render_history(rows: &[HistoryRow], a: &HistoryArgs, now: f64) -> anyhow::Result<String> {
    let trunc = !a.no_trunc;
    let id_of = |r: &HistoryRow| {
        if trunc && r.id != "<missing>" {
            short_id(&r.id)
        } else {
            r.id.clone()
        }
    };
    if a.quiet {
        return Ok(rows.iter().map(|r| format!("{}\n", id_of(r))).collect());
    }
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            let created_since = if a.human {
                format!("{} ago", human_duration((now - r.created as f64).max(0.0)))
            } else {
                chrono::DateTime::from_timestamp(r.created, 0)
                    .map(|t| {
                        t.with_timezone(&chrono::Local)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    })
                    .unwrap_or_default()
            };
            let by = r.created_by.replace('\t', " ");
            let by = if trunc { ellipsis(&by, 45) } else { by };
            let size = if a.human {
                human_size(r.size as f64, 3)
            } else {
                r.size.to_string()
            };
            string_map(&[
                ("ID", id_of(r)),
                ("CreatedSince", created_since),
                ("CreatedAt", created_at(r.created)),
                ("CreatedBy", by),
                ("Size", size),
                ("Comment", r.comment.clone()),
            ])
        })
        .collect();
    let headers: Vec<(&str, String)> = [
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let format = match a.format.as_deref() {
        None | Some("") | Some("table") => HISTORY_TABLE,
        Some(f) => f,
    };
    render_rows(format, &headers, &values)
}

pub async fn history(client: &Client, a: HistoryArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let rows: Vec<HistoryRow> = client
        .get_json(&format!("/images/{}/history", seg(&a.image)))
        .await?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    print!("{}", render_history(&rows, &a, now)?);
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PruneReport {
    #[serde(rename = "ImagesDeleted", default)]
    pub images_deleted: Option<Vec<DeleteItem>>,
    #[serde(rename = "SpaceReclaimed", default)]
    pub space_reclaimed: u64,
}

/// What `docker image prune` prints after the daemon answered.
pub fn prune_output(r: &PruneReport) -> String {
    let lines = super::prune::image_lines(r.images_deleted.as_deref().unwrap_or_default());
    super::prune::section("Deleted Images", &lines) + &super::prune::total_line(r.space_reclaimed)
}

pub async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<i32> {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let mut filters = a.filter.clone();
    filters.push(format!("dangling={}", !a.all));
    let mut q = Vec::new();
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    client.ping().await?;
    let resp = client
        .send(
            Method::POST,
            &format!("/images/prune{}", query(&q)),
            None,
            crate::client::empty(),
        )
        .await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let report: PruneReport = serde_json::from_slice(&bytes)?;
    print!("{}", prune_output(&report));
    Ok(0)
}

/// `berth image ...`, as `docker image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(Box<crate::cmd::build::BuildArgs>),
    /// List images
    #[command(visible_alias = "list")]
    Ls(crate::cmd::image::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", alias = "rmi")]
    Rm(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(crate::cmd::image::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(crate::cmd::container::InspectArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(crate::cmd::image_archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(crate::cmd::image_archive::LoadArgs),
    /// Download an image from a registry
    Pull(crate::cmd::distribution::PullArgs),
    /// Upload an image to a registry
    Push(crate::cmd::distribution::PushArgs),
}

pub async fn image(client: &Client, c: ImageCmd) -> anyhow::Result<i32> {
    match c {
        ImageCmd::Build(a) => crate::cmd::build::build_as(client, *a, "image build").await,
        ImageCmd::Pull(a) => crate::cmd::distribution::pull(client, a).await,
        ImageCmd::Push(a) => crate::cmd::distribution::push(client, a).await,
        ImageCmd::Ls(a) => crate::cmd::image::images(client, a).await,
        ImageCmd::Tag(a) => tag(client, a).await,
        ImageCmd::Rm(a) => rmi(client, a).await,
        ImageCmd::History(a) => history(client, a).await,
        ImageCmd::Prune(a) => prune(client, a).await,
        ImageCmd::Import(a) => crate::cmd::image::import(client, a).await,
        ImageCmd::Inspect(mut a) => {
            a.kind = Some(crate::cmd::container::ObjectType::Image);
            crate::cmd::container::inspect(client, a).await
        }
        ImageCmd::Save(a) => crate::cmd::image_archive::save(client, a).await,
        ImageCmd::Load(a) => crate::cmd::image_archive::load(client, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct H {
        #[command(flatten)]
        a: HistoryArgs,
    }

    fn hargs(argv: &[&str]) -> HistoryArgs {
        H::try_parse_from(std::iter::once("history").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    // From trace 40_image_history_inspect.txt.
    const TRACE: &str = r#"[{"Comment":"Imported from -","Created":1795948901,"CreatedBy":"","Id":"sha256:c5d0e22aaf7a42bbcbf3b64bd1067d189a33a8ed690974760ef46c57ff18158d","Size":1985573,"Tags":["busybox:latest"]}]"#;

    #[test]
    fn history_table_like_docker() {
        let rows: Vec<HistoryRow> = serde_json::from_str(TRACE).unwrap();
        let out = render_history(&rows, &hargs(&["busybox"]), 1795948901.0 + 150.0).unwrap();
        assert_eq!(
            out,
            "IMAGE          CREATED         CREATED BY   SIZE      COMMENT\n\
             c5d0e22aaf7a   2 minutes ago                1.99MB    Imported from -\n"
        );
        let q = render_history(&rows, &hargs(&["-q", "busybox"]), 0.0).unwrap();
        assert_eq!(q, "c5d0e22aaf7a\n");
        let raw = render_history(
            &rows,
            &hargs(&["-H=false", "--format", "{{.ID}} {{.Size}}", "busybox"]),
            0.0,
        )
        .unwrap();
        assert_eq!(raw, "c5d0e22aaf7a 1985573\n");
    }

    #[test]
    fn long_created_by_is_cut_at_45() {
        let rows = vec![HistoryRow {
            id: "<missing>".into(),
            created: 0,
            created_by: "/bin/sh -c\tapt-get update && apt-get install -y curl".into(),
            size: 0,
            comment: String::new(),
            tags: None,
        }];
        let out = render_history(
            &rows,
            &hargs(&["--format", "{{.ID}}|{{.CreatedBy}}", "x"]),
            0.0,
        )
        .unwrap();
        assert_eq!(
            out,
            "<missing>|/bin/sh -c apt-get update && apt-get install…\n"
        );
    }

    #[test]
    fn tag_query_splits_repo_and_tag() {
        assert_eq!(
            tag_query("research-trace:tagged").unwrap(),
            vec![
                ("repo", "docker.io/library/research-trace".to_string()),
                ("tag", "tagged".to_string())
            ]
        );
        assert_eq!(
            tag_query("localhost:5000/a").unwrap(),
            vec![
                ("repo", "localhost:5000/a".to_string()),
                ("tag", "latest".to_string())
            ]
        );
        let e = tag_query("Bad:x").unwrap_err().to_string();
        assert!(e.starts_with("Error parsing reference: \"Bad:x\" is not a valid repository/tag: invalid reference format"), "{e}");
    }

    #[test]
    fn rmi_and_prune_output() {
        let items: Vec<DeleteItem> =
            serde_json::from_str(r#"[{"Untagged":"a:1"},{"Deleted":"sha256:ab"}]"#).unwrap();
        assert_eq!(rmi_lines(&items), "Untagged: a:1\nDeleted: sha256:ab\n");
        let r = PruneReport {
            images_deleted: Some(items),
            space_reclaimed: 1985573,
        };
        assert_eq!(
            prune_output(&r),
            "Deleted Images:\nuntagged: a:1\ndeleted: sha256:ab\n\nTotal reclaimed space: 1.986MB\n"
        );
        let none = PruneReport {
            images_deleted: None,
            space_reclaimed: 0,
        };
        assert_eq!(prune_output(&none), "Total reclaimed space: 0B\n");
    }
}

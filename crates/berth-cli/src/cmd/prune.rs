//! `berth container prune` and `berth system prune`: docker's prompts, the prune requests
//! in docker's order (containers, networks, volumes, images, build cache) and its report,
//! one "Deleted ...:" section per kind and the total reclaimed.

use crate::client::{empty, query, read_json, Client};
use crate::cmd::container::filters_json;
use crate::cmd::image_verbs::DeleteItem;
use crate::format::human_size;
use clap::Args;
use hyper::Method;
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;

#[derive(Debug, Clone, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

/// docker's `PromptForConfirmation`: the message, ` [y/N] `, and only `y` (any case)
/// agrees. A refusal ends the command quietly with status 0, as docker's cancellation.
fn confirm(message: &str) -> bool {
    print!("{message} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().eq_ignore_ascii_case("y")
}

/// One kind's part of the report: what `fmt.Fprintln(out, output)` prints in docker,
/// the title, one line per item and an empty line; nothing when nothing went.
pub fn section(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("{title}:\n");
    for i in items {
        out.push_str(i);
        out.push('\n');
    }
    out.push('\n');
    out
}

pub fn total_line(reclaimed: u64) -> String {
    format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed as f64, 4)
    )
}

/// The strings of a JSON array field (`null` or absent is none).
fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn reclaimed(v: &Value) -> u64 {
    v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0)
}

/// `POST {path}?filters=` (and any extra query pairs) with an empty body.
async fn prune_request(
    client: &Client,
    path: &str,
    filters: &[String],
    extra: &[(&str, String)],
) -> anyhow::Result<Value> {
    let mut q: Vec<(&str, String)> = extra.to_vec();
    if let Some(f) = filters_json(filters)? {
        q.push(("filters", f));
    }
    let resp = client
        .send(Method::POST, &format!("{path}{}", query(&q)), None, empty())
        .await?;
    read_json(resp).await
}

/// docker's `container.RunPrune`: the section and the space reclaimed.
async fn prune_containers(client: &Client, filters: &[String]) -> anyhow::Result<(String, u64)> {
    let r = prune_request(client, "/containers/prune", filters, &[]).await?;
    let ids = strings(&r, "ContainersDeleted");
    let space = if ids.is_empty() { 0 } else { reclaimed(&r) };
    Ok((section("Deleted Containers", &ids), space))
}

async fn prune_networks(client: &Client, filters: &[String]) -> anyhow::Result<(String, u64)> {
    let r = prune_request(client, "/networks/prune", filters, &[]).await?;
    Ok((
        section("Deleted Networks", &strings(&r, "NetworksDeleted")),
        0,
    ))
}

async fn prune_volumes(client: &Client, filters: &[String]) -> anyhow::Result<(String, u64)> {
    let r = prune_request(client, "/volumes/prune", filters, &[]).await?;
    let names = strings(&r, "VolumesDeleted");
    let space = if names.is_empty() { 0 } else { reclaimed(&r) };
    Ok((section("Deleted Volumes", &names), space))
}

#[derive(Debug, Default, Deserialize)]
struct ImagePrune {
    #[serde(rename = "ImagesDeleted", default)]
    images_deleted: Option<Vec<DeleteItem>>,
    #[serde(rename = "SpaceReclaimed", default)]
    space_reclaimed: u64,
}

/// `untagged: ...` / `deleted: ...` lines, as `docker image prune` prints them.
pub fn image_lines(items: &[DeleteItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match (&i.untagged, &i.deleted) {
            (Some(u), _) if !u.is_empty() => Some(format!("untagged: {u}")),
            (_, Some(d)) if !d.is_empty() => Some(format!("deleted: {d}")),
            _ => None,
        })
        .collect()
}

async fn prune_images(
    client: &Client,
    all: bool,
    filters: &[String],
) -> anyhow::Result<(String, u64)> {
    let mut f = filters.to_vec();
    f.push(format!("dangling={}", !all));
    let r = prune_request(client, "/images/prune", &f, &[]).await?;
    let r: ImagePrune = serde_json::from_value(r)?;
    let lines = image_lines(r.images_deleted.as_deref().unwrap_or_default());
    let space = if lines.is_empty() {
        0
    } else {
        r.space_reclaimed
    };
    Ok((section("Deleted Images", &lines), space))
}

async fn prune_build_cache(
    client: &Client,
    all: bool,
    filters: &[String],
) -> anyhow::Result<(String, u64)> {
    let extra: Vec<(&str, String)> = if all {
        vec![("all", "1".to_string())]
    } else {
        Vec::new()
    };
    let r = prune_request(client, "/build/prune", filters, &extra).await?;
    Ok((
        section("Deleted build cache objects", &strings(&r, "CachesDeleted")),
        reclaimed(&r),
    ))
}

pub async fn container_prune(client: &Client, a: ContainerPruneArgs) -> anyhow::Result<i32> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    client.ping().await?;
    let (out, space) = prune_containers(client, &a.filter).await?;
    print!("{out}{}", total_line(space));
    Ok(0)
}

/// docker 28's confirmation text for `system prune`.
pub fn system_warning(a: &SystemPruneArgs) -> String {
    let mut warnings = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if a.volumes {
        warnings.push("all anonymous volumes not used by at least one container");
    }
    warnings.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    warnings.push(if a.all {
        "all build cache"
    } else {
        "unused build cache"
    });
    let mut out = String::from("WARNING! This will remove:");
    for w in warnings {
        out.push_str("\n  - ");
        out.push_str(w);
    }
    out.push('\n');
    // Only these keys are shown, sorted, as the docker CLI does.
    let mut filters: Vec<&String> = a
        .filter
        .iter()
        .filter(|f| {
            f.split_once('=')
                .is_some_and(|(k, _)| matches!(k.trim(), "label" | "label!" | "until"))
        })
        .collect();
    filters.sort();
    if !filters.is_empty() {
        out.push_str("\n  Items to be pruned will be filtered with:");
        for f in filters {
            out.push_str("\n  - ");
            out.push_str(f);
        }
        out.push('\n');
    }
    out.push_str("\nAre you sure you want to continue?");
    out
}

pub async fn system_prune(client: &Client, a: SystemPruneArgs) -> anyhow::Result<i32> {
    if a.volumes
        && a.filter
            .iter()
            .any(|f| f.split_once('=').is_some_and(|(k, _)| k.trim() == "until"))
    {
        anyhow::bail!(r#"ERROR: The "until" filter is not supported with "--volumes""#);
    }
    if !a.force && !confirm(&system_warning(&a)) {
        return Ok(0);
    }
    client.ping().await?;
    let mut total = 0;
    let mut report = |(out, space): (String, u64)| {
        print!("{out}");
        total += space;
    };
    report(prune_containers(client, &a.filter).await?);
    report(prune_networks(client, &a.filter).await?);
    if a.volumes {
        report(prune_volumes(client, &a.filter).await?);
    }
    report(prune_images(client, a.all, &a.filter).await?);
    report(prune_build_cache(client, a.all, &a.filter).await?);
    print!("{}", total_line(total));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(all: bool, volumes: bool, filter: &[&str]) -> SystemPruneArgs {
        SystemPruneArgs {
            all,
            force: false,
            volumes,
            filter: filter.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn system_warning_as_docker_28() {
        assert_eq!(
            system_warning(&sys(false, false, &[])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue?"
        );
        assert_eq!(
            system_warning(&sys(true, true, &["until=1h", "label=a", "x=y"])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a\n  - until=1h\n\nAre you sure you want to continue?"
        );
    }

    #[test]
    fn sections_and_total() {
        assert_eq!(section("Deleted Containers", &[]), "");
        assert_eq!(
            section("Deleted Containers", &["a".into(), "b".into()]),
            "Deleted Containers:\na\nb\n\n"
        );
        assert_eq!(total_line(0), "Total reclaimed space: 0B\n");
        assert_eq!(total_line(1234), "Total reclaimed space: 1.234kB\n");
        let items = vec![
            DeleteItem {
                untagged: Some("a:1".into()),
                deleted: None,
            },
            DeleteItem {
                untagged: None,
                deleted: Some("sha256:ab".into()),
            },
        ];
        assert_eq!(image_lines(&items), ["untagged: a:1", "deleted: sha256:ab"]);
        let v: Value = serde_json::json!({"ContainersDeleted": null, "SpaceReclaimed": 5});
        assert!(strings(&v, "ContainersDeleted").is_empty());
        assert_eq!(reclaimed(&v), 5);
    }
}

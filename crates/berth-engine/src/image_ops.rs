//! Image verbs beyond import and inspect: tag, delete (rmi), history and prune, with
//! dockerd's rules for when a delete only untags and when a container blocks it.

use crate::container::Status;
use crate::Engine;
use berth_model::image::ImageConfig;
use berth_model::{Digest, Error, ErrorKind, Reference, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// One entry of `DELETE /images/{name}`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteItem {
    #[serde(rename = "Untagged", skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(rename = "Deleted", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

impl DeleteItem {
    fn untagged(r: &Reference) -> Self {
        Self {
            untagged: Some(r.familiar()),
            deleted: None,
        }
    }
}

/// One row of `GET /images/{name}/history`; fields in dockerd's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryItem {
    #[serde(rename = "Comment")]
    pub comment: String,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "Tags")]
    pub tags: Option<Vec<String>>,
}

/// `POST /images/prune`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneReport {
    #[serde(rename = "ImagesDeleted")]
    pub images_deleted: Option<Vec<DeleteItem>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// Go's zero time as Unix seconds: what dockerd reports for a history entry without a date.
const GO_ZERO_UNIX: i64 = -62_135_596_800;

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// History rows newest first, as dockerd builds them: each non-empty entry takes the next
/// layer's size; only the top row carries the image ID and tags (there are no parent
/// images here, so the rest are `<missing>`).
pub fn history_rows(
    cfg: &ImageConfig,
    id: &str,
    tags: Vec<String>,
    layer_sizes: &[u64],
) -> Result<Vec<HistoryItem>> {
    let mut rows = Vec::new();
    let mut layer = 0;
    for h in &cfg.history {
        let mut size = 0;
        if !h.empty_layer {
            size = *layer_sizes
                .get(layer)
                .ok_or_else(|| Error::internal("too many non-empty layers in History section"))?
                as i64;
            layer += 1;
        }
        let created = h
            .created
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(GO_ZERO_UNIX, |t| t.timestamp());
        rows.push(HistoryItem {
            comment: h.comment.clone().unwrap_or_default(),
            created,
            created_by: h.created_by.clone().unwrap_or_default(),
            id: "<missing>".into(),
            size,
            tags: None,
        });
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = id.to_string();
        top.tags = (!tags.is_empty()).then_some(tags);
    }
    Ok(rows)
}

/// Go's `path.Match`, which the `reference` filter uses: `*` and `?` stop at `/`,
/// `[...]` classes with ranges and `^` negation, `\` escapes. A malformed pattern is an
/// error, as in Go.
pub fn glob_match(pattern: &str, name: &str) -> std::result::Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let bad = || format!("syntax error in pattern {pattern:?}");
    // Matches one class at p[i] (just after '[') against c; returns (matched, next index).
    let class = |mut i: usize, c: char| -> std::result::Result<(bool, usize), String> {
        let negate = p.get(i) == Some(&'^');
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let mut lo = *p.get(i).ok_or_else(bad)?;
            if lo == ']' && !first {
                i += 1;
                break;
            }
            first = false;
            if lo == '\\' {
                i += 1;
                lo = *p.get(i).ok_or_else(bad)?;
            }
            i += 1;
            let mut hi = lo;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
                hi = p[i + 1];
                i += 2;
                if hi == '\\' {
                    hi = *p.get(i).ok_or_else(bad)?;
                    i += 1;
                }
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
        Ok((matched != negate, i))
    };
    // Backtracking over the last `*`, which cannot cross a '/'.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() && n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() && n[ni] != '/' => {
                    let (ok, next) = class(pi + 1, n[ni])?;
                    if ok {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let c = *p.get(pi + 1).ok_or_else(bad)?;
                    if ni < n.len() && n[ni] == c {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c if c != '?' && c != '[' && ni < n.len() && n[ni] == c => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Ok(true);
        }
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => {
                // Go reports a bad pattern even when the name already failed to match.
                if p.iter().filter(|&&c| c == '[').count() > p.iter().filter(|&&c| c == ']').count()
                {
                    return Err(bad());
                }
                return Ok(false);
            }
        }
    }
}

/// Docker's `reference` filter on one tag: the familiar string, else the familiar name.
pub fn reference_matches(pattern: &str, r: &Reference) -> Result<bool> {
    let m = |s: &str| glob_match(pattern, s).map_err(Error::invalid);
    Ok(m(&r.familiar())? || m(&r.familiar_name())?)
}

/// Who uses an image: a running container (hard conflict) or a stopped one.
struct Users {
    running: Option<String>,
    stopped: Option<String>,
}

impl Users {
    fn any(&self) -> Option<&String> {
        self.running.as_ref().or(self.stopped.as_ref())
    }
}

fn conflict(msg: String) -> Error {
    Error::new(ErrorKind::Conflict, msg)
}

impl Engine {
    fn image_users(&self, id: &Digest) -> Users {
        let id = id.to_string();
        let list: Vec<_> = self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let mut users = Users {
            running: None,
            stopped: None,
        };
        let mut recs: Vec<_> = list.iter().map(|c| c.record()).collect();
        recs.sort_by(|a, b| a.id.cmp(&b.id));
        for r in recs.into_iter().filter(|r| r.image_id == id) {
            let running = matches!(
                r.state.status,
                Status::Running | Status::Paused | Status::Restarting
            );
            let slot = if running {
                &mut users.running
            } else {
                &mut users.stopped
            };
            slot.get_or_insert(r.id);
        }
        users
    }

    fn emit_image(&self, action: &str, id: &Digest, name: &str) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        self.emit("image", action, &id.to_string(), attrs);
    }

    /// `POST /images/{name}/tag`: dockerd's parse of `repo` (and `tag`), refusing digests.
    pub async fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let wanted = name.to_string();
        let img = self
            .blocking(move |s| s.resolve_image(&wanted).map_err(Error::from))
            .await?;
        let mut r = Reference::parse_normalized(repo).map_err(|e| Error::invalid(e.to_string()))?;
        if !tag.is_empty() {
            if !valid_tag(tag) {
                return Err(Error::invalid(format!(
                    "invalid tag format: {tag:?} is not a valid tag"
                )));
            }
            r.digest = None;
            r.tag = Some(tag.to_string());
        } else if r.digest.is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        if r.path.len() == 64 && r.path.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "invalid repository name ({}), cannot specify 64-byte hexadecimal strings",
                r.path
            )));
        }
        let id = img.id.clone();
        let (rr, idc) = (r.clone(), id.clone());
        self.blocking(move |s| s.tag(&rr, &idc).map_err(Error::from))
            .await?;
        let mut named = r;
        if named.tag.is_none() {
            named.tag = Some(berth_model::reference::DEFAULT_TAG.into());
        }
        self.emit_image("tag", &id, &named.familiar());
        Ok(())
    }

    /// `DELETE /images/{name}` with dockerd's rules: a tag of several is only untagged; a
    /// last tag or an ID deletes the image unless a container uses it (`force` overrides
    /// a stopped one, never a running one). An image with children (a build step's) is
    /// kept; deleting an image also deletes its untagged parents nothing else uses, unless
    /// `noprune`.
    pub async fn delete_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteItem>> {
        // Creates hold this too, so no container can start using the image mid-delete.
        let _serial = self.create_lock.lock().await;
        let wanted = name.to_string();
        let (img, refs) = self
            .blocking(move |s| {
                let img = s.resolve_image(&wanted).map_err(Error::from)?;
                let refs = s.image_refs(&img.id).map_err(Error::from)?;
                Ok((img, refs))
            })
            .await?;
        // Names are tags (and the digest reference named, if any); digest references go
        // with the image, as in dockerd.
        let named_digest = Reference::parse_normalized(name)
            .ok()
            .filter(|r| r.digest.is_some() && refs.contains(r));
        let refs: Vec<Reference> = refs
            .into_iter()
            .filter(|r| r.digest.is_none() || Some(r) == named_digest.as_ref())
            .collect();
        let id = img.id.clone();
        let named = Reference::parse_normalized(name).ok().map(|mut r| {
            if r.tag.is_none() && r.digest.is_none() {
                r.tag = Some(berth_model::reference::DEFAULT_TAG.into());
            }
            r
        });
        let named = named.filter(|r| refs.contains(r));
        let users = self.image_users(&id);
        let mut items = Vec::new();
        let mut remaining = refs.clone();
        let quiet;
        if let Some(r) = named {
            if !force && refs.len() == 1 {
                if let Some(c) = users.any() {
                    return Err(conflict(format!(
                        "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {}",
                        short(c),
                        short(&id.to_string())
                    )));
                }
            }
            let rr = r.clone();
            self.blocking(move |s| s.untag(&rr).map_err(Error::from))
                .await?;
            self.emit_image("untag", &id, &id.to_string());
            items.push(DeleteItem::untagged(&r));
            remaining.retain(|x| *x != r);
            if !remaining.is_empty() {
                return Ok(items);
            }
            quiet = true;
        } else {
            if refs.len() == 1 {
                if let Some(e) = self.delete_conflict(&id, &users, 0, force) {
                    return Err(e);
                }
                for r in std::mem::take(&mut remaining) {
                    let rr = r.clone();
                    self.blocking(move |s| s.untag(&rr).map_err(Error::from))
                        .await?;
                    self.emit_image("untag", &id, &id.to_string());
                    items.push(DeleteItem::untagged(&r));
                }
            }
            quiet = false;
        }
        if let Some(e) = self.delete_conflict(&id, &users, remaining.len(), force) {
            // After untagging its last name, an image still in use stays, silently.
            if quiet && (users.any().is_some() || !remaining.is_empty()) {
                return Ok(items);
            }
            return Err(e);
        }
        if self.has_children(&id).await? {
            if quiet {
                return Ok(items);
            }
            return Err(conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                short(&id.to_string())
            )));
        }
        self.remove_image_record(&id, &mut items).await?;
        if !noprune {
            self.prune_parents(img.parent.clone(), &mut items).await;
        }
        Ok(items)
    }

    async fn has_children(&self, id: &Digest) -> Result<bool> {
        let id = id.clone();
        self.blocking(move |s| {
            Ok(s.list_images()?
                .iter()
                .any(|(i, _)| i.parent.as_ref() == Some(&id)))
        })
        .await
    }

    /// Deletes `parent` and its own parents while each is untagged, childless and unused
    /// (the intermediate images of a build), as dockerd's delete does. Returns the bytes
    /// reclaimed.
    async fn prune_parents(&self, mut parent: Option<Digest>, items: &mut Vec<DeleteItem>) -> u64 {
        let mut reclaimed = 0;
        while let Some(p) = parent.take() {
            let pc = p.clone();
            let found = self
                .blocking(move |s| {
                    let Ok(img) = s.image(&pc) else {
                        return Ok(None);
                    };
                    let untagged = s.image_refs(&pc)?.is_empty();
                    let childless = !s
                        .list_images()?
                        .iter()
                        .any(|(i, _)| i.parent.as_ref() == Some(&pc));
                    Ok(Some((img, untagged && childless)))
                })
                .await;
            let Ok(Some((img, true))) = found else { break };
            if self.image_users(&p).any().is_some() {
                break;
            }
            match self.remove_image_record(&p, items).await {
                Ok(n) => reclaimed += n,
                Err(_) => break,
            }
            parent = img.parent;
        }
        reclaimed
    }

    /// dockerd's conflict order: running container, other tags, stopped container.
    fn delete_conflict(
        &self,
        id: &Digest,
        users: &Users,
        other_refs: usize,
        force: bool,
    ) -> Option<Error> {
        let sid = short(&id.to_string());
        if let Some(c) = &users.running {
            return Some(conflict(format!(
                "conflict: unable to delete {sid} (cannot be forced) - image is being used by running container {}",
                short(c)
            )));
        }
        if force {
            return None;
        }
        if other_refs > 0 {
            return Some(conflict(format!(
                "conflict: unable to delete {sid} (must be forced) - image is referenced in multiple repositories"
            )));
        }
        users.stopped.as_ref().map(|c| {
            conflict(format!(
                "conflict: unable to delete {sid} (must be forced) - image is being used by stopped container {}",
                short(c)
            ))
        })
    }

    /// Deletes the record, its remaining tags and whatever layers only it used.
    async fn remove_image_record(&self, id: &Digest, items: &mut Vec<DeleteItem>) -> Result<u64> {
        let idc = id.clone();
        let gone = self
            .blocking(move |s| s.delete_image(&idc).map_err(Error::from))
            .await?;
        for r in &gone.untagged {
            self.emit_image("untag", id, &id.to_string());
            items.push(DeleteItem::untagged(r));
        }
        self.emit_image("delete", id, &id.to_string());
        items.push(DeleteItem {
            untagged: None,
            deleted: Some(id.to_string()),
        });
        tracing::info!(image = %id, blobs = gone.blobs.len(), snapshots = gone.snapshots.len(), "image deleted");
        Ok(gone.reclaimed)
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let wanted = name.to_string();
        let (img, refs, sizes, ancestors) = self
            .blocking(move |s| {
                let img = s.resolve_image(&wanted).map_err(Error::from)?;
                let refs = s.image_refs(&img.id).map_err(Error::from)?;
                let sizes = if img.layers.len() == 1 {
                    vec![img.size]
                } else {
                    layer_sizes(s, &img.layers)
                };
                // Local parents (build steps, commits) name their own rows, as dockerd
                // shows them; the chain is bounded by the history's length.
                let mut ancestors = Vec::new();
                let mut next = img.parent.clone();
                while let Some(p) = next.take() {
                    if ancestors.len() >= img.config.history.len() {
                        break;
                    }
                    let Ok(pi) = s.image(&p) else { break };
                    let tags = s.image_refs(&p).unwrap_or_default();
                    next = pi.parent.clone();
                    ancestors.push((pi.id, pi.config.history.len(), tags));
                }
                Ok((img, refs, sizes, ancestors))
            })
            .await?;
        let familiar = |refs: &[Reference]| -> Vec<String> {
            refs.iter()
                .filter(|r| r.tag.is_some())
                .map(|r| r.familiar())
                .collect()
        };
        let mut rows = history_rows(&img.config, &img.id.to_string(), familiar(&refs), &sizes)?;
        let total = rows.len();
        for (id, len, tags) in ancestors {
            // Row 0 is the newest entry; an ancestor with `len` entries owns row total-len.
            if let Some(row) = total.checked_sub(len).and_then(|i| rows.get_mut(i)) {
                if row.id == "<missing>" {
                    row.id = id.to_string();
                    let t = familiar(&tags);
                    row.tags = (!t.is_empty()).then_some(t);
                }
            }
        }
        Ok(rows)
    }

    /// `POST /images/prune`: dangling images by default, with `dangling=false` every image
    /// no container uses; `label`/`label!` narrow it.
    pub async fn prune_images(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<PruneReport> {
        for k in filters.keys() {
            if !["dangling", "label", "label!", "until"].contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
        }
        let dangling_only = match filters.get("dangling").map(|v| v.as_slice()) {
            None => true,
            Some([v]) => parse_bool_filter("dangling", v)?,
            Some(_) => return Err(Error::invalid("invalid filter 'dangling'")),
        };
        let now = chrono::Utc::now().timestamp();
        let until = match filters.get("until").map(|v| v.as_slice()) {
            None => None,
            Some([v]) => Some(parse_until(v, now)?),
            Some(_) => return Err(Error::invalid("invalid filter 'until'")),
        };
        // Creates hold this too, so no container can start using the image mid-delete.
        let _serial = self.create_lock.lock().await;
        let rows = self
            .blocking(|s| s.list_images().map_err(Error::from))
            .await?;
        let parents: std::collections::HashSet<Digest> =
            rows.iter().filter_map(|(i, _)| i.parent.clone()).collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for (img, refs) in rows {
            if dangling_only && !refs.is_empty() {
                continue;
            }
            // Intermediate images go with their last child.
            if parents.contains(&img.id) {
                continue;
            }
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if !label_filters_match(&filters, &labels) {
                continue;
            }
            if until.is_some_and(|u| crate::images::unix_time(&img.config.created) >= u) {
                continue;
            }
            if self.image_users(&img.id).any().is_some() {
                continue;
            }
            let mut items = Vec::new();
            match self.remove_image_record(&img.id, &mut items).await {
                Ok(n) => reclaimed += n,
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            reclaimed += self.prune_parents(img.parent.clone(), &mut items).await;
            deleted.extend(items);
        }
        Ok(PruneReport {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}

/// An `until` filter value as dockerd reads it: a Go duration before now (`24h`, `1h30m`),
/// Unix seconds (fraction allowed), or an RFC 3339 time or date.
pub fn parse_until(v: &str, now: i64) -> Result<i64> {
    let bad = || Error::invalid(format!("failed to parse value {v:?} of filter 'until'"));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
            .and_utc()
            .timestamp());
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(secs as i64);
    }
    // Go duration: one or more <number><unit>.
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        any = true;
    }
    if !any || !num.is_empty() {
        return Err(bad());
    }
    Ok(now - total as i64)
}

/// Unpacked size of each layer, read from its snapshot (multi-layer images keep no
/// per-layer size in their record).
fn layer_sizes(s: &berth_store::Store, layers: &[Digest]) -> Vec<u64> {
    (1..=layers.len())
        .map(|n| {
            let Some(c) = berth_model::digest::chain_id(&layers[..n]) else {
                return 0;
            };
            // Recorded when the layer was unpacked; older stores walk the tree.
            match s.layer_size(c.hex()) {
                0 => s
                    .snapshotter()
                    .mounts(c.hex())
                    .map_or(0, |m| tree_size(&m.upper)),
                n => n,
            }
        })
        .collect()
}

fn tree_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

pub(crate) fn parse_bool_filter(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!("Invalid filter '{name}={v}'"))),
    }
}

/// `label=k`, `label=k=v` (all must match) and `label!=...` (none may).
pub(crate) fn label_filters_match(
    filters: &BTreeMap<String, Vec<String>>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let has = |f: &String| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    };
    filters.get("label").is_none_or(|v| v.iter().all(has))
        && filters.get("label!").is_none_or(|v| !v.iter().any(has))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::image::History;

    #[test]
    fn until_like_dockerd() {
        let now = 1_000_000;
        assert_eq!(parse_until("24h", now).unwrap(), now - 86400);
        assert_eq!(parse_until("1h30m", now).unwrap(), now - 5400);
        assert_eq!(parse_until("10m", now).unwrap(), now - 600);
        assert_eq!(parse_until("1700000000", now).unwrap(), 1_700_000_000);
        assert_eq!(
            parse_until("2024-01-02T03:04:05Z", now).unwrap(),
            1_704_164_645
        );
        assert_eq!(parse_until("2024-01-02", now).unwrap(), 1_704_153_600);
        assert!(parse_until("soon", now).is_err());
        assert!(parse_until("10", now).is_ok());
        assert!(parse_until("5x", now).is_err());
    }

    #[test]
    fn glob_like_go_path_match() {
        let ok = |p, n| glob_match(p, n).unwrap();
        assert!(ok("busy*", "busybox"));
        assert!(ok("busybox:*", "busybox:latest"));
        assert!(!ok("*", "a/b"));
        assert!(ok("*/*", "a/b"));
        assert!(ok("b?sybox", "busybox"));
        assert!(ok("[a-c]usybox", "busybox"));
        assert!(!ok("[^b]usybox", "busybox"));
        assert!(ok("a\\*", "a*"));
        assert!(!ok("a\\*", "ab"));
        assert!(ok("*:1", "x:1"));
        assert!(!ok("busy", "busybox"));
        assert!(glob_match("[a", "b").is_err());
    }

    #[test]
    fn reference_filter_tries_tag_then_name() {
        let r = Reference::parse_normalized("localhost:5000/a/b:v1").unwrap();
        assert!(reference_matches("localhost:5000/a/b", &r).unwrap());
        assert!(reference_matches("localhost:5000/*/*:v*", &r).unwrap());
        assert!(!reference_matches("b", &r).unwrap());
        let r = Reference::parse_normalized("busybox").unwrap();
        assert!(reference_matches("busybox", &r).unwrap());
    }

    #[test]
    fn history_newest_first_with_layer_sizes() {
        let h = |by: &str, empty| History {
            created: Some("2026-11-29T10:41:41Z".into()),
            created_by: Some(by.into()),
            empty_layer: empty,
            ..Default::default()
        };
        let cfg = ImageConfig {
            history: vec![h("ADD rootfs", false), h("CMD sh", true), h("RUN x", false)],
            ..Default::default()
        };
        let rows = history_rows(&cfg, "sha256:abc", vec!["a:1".into()], &[100, 7]).unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.created_by.as_str(), r.size))
            .collect();
        assert_eq!(
            got,
            vec![
                ("sha256:abc", "RUN x", 7),
                ("<missing>", "CMD sh", 0),
                ("<missing>", "ADD rootfs", 100)
            ]
        );
        assert_eq!(rows[0].tags, Some(vec!["a:1".to_string()]));
        assert_eq!(rows[1].tags, None);
        assert_eq!(rows[0].created, 1795948901);
        assert!(history_rows(&cfg, "x", vec![], &[1]).is_err());
        let v = serde_json::to_string(&rows[2]).unwrap();
        assert_eq!(
            v,
            r#"{"Comment":"","Created":1795948901,"CreatedBy":"ADD rootfs","Id":"<missing>","Size":100,"Tags":null}"#
        );
    }
}

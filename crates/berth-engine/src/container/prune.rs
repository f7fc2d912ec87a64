//! `POST /containers/prune`: removes every stopped container (not running, paused or
//! restarting) that passes the `until` and `label`/`label!` filters, as `rm` does, and
//! reports the size of the read-write layers it took away.

use super::Status;
use crate::image_ops::{label_filters_match, parse_until};
use crate::Engine;
use berth_model::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// dockerd's `container.PruneReport`: `ContainersDeleted` is `null` when none went.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// The filters dockerd accepts for a container prune; any other is a 400.
const ACCEPTED: [&str; 3] = ["until", "label", "label!"];

pub(crate) fn check_filters(filters: &BTreeMap<String, Vec<String>>) -> Result<Option<i64>> {
    for k in filters.keys() {
        if !ACCEPTED.contains(&k.as_str()) {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
    }
    match filters.get("until").map(|v| v.as_slice()) {
        None | Some([]) => Ok(None),
        Some([v]) => parse_until(v, chrono::Utc::now().timestamp()).map(Some),
        Some(_) => Err(Error::invalid("more than one until filter specified")),
    }
}

/// Whether a container in `status`, created at `created` (Unix seconds), with `labels`
/// is one a prune removes.
pub(crate) fn prunable(
    status: Status,
    created: i64,
    labels: &BTreeMap<String, String>,
    until: Option<i64>,
    filters: &BTreeMap<String, Vec<String>>,
) -> bool {
    if matches!(
        status,
        Status::Running | Status::Paused | Status::Restarting | Status::Removing
    ) {
        return false;
    }
    if until.is_some_and(|u| created >= u) {
        return false;
    }
    label_filters_match(filters, labels)
}

/// Holds the engine's "a container prune runs" flag; clears it when dropped.
struct PruneGuard<'a>(&'a AtomicBool);

impl<'a> PruneGuard<'a> {
    fn take(flag: &'a AtomicBool) -> Result<Self> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| Error::conflict("a prune operation is already running"))?;
        Ok(Self(flag))
    }
}

impl Drop for PruneGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Engine {
    pub async fn prune_containers(
        self: &Arc<Self>,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<ContainerPruneReport> {
        let _running = PruneGuard::take(&self.container_prune_running)?;
        let until = check_filters(&filters)?;
        let mut candidates: Vec<_> = self
            .all_containers()
            .into_iter()
            .filter_map(|c| {
                let r = c.record();
                let created =
                    chrono::DateTime::parse_from_rfc3339(&r.created).map_or(0, |t| t.timestamp());
                let labels = r.config.labels.clone().unwrap_or_default();
                prunable(r.state.status, created, &labels, until, &filters)
                    .then_some((created, c.id.clone()))
            })
            .collect();
        candidates.sort();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for (_, id) in candidates {
            let rw_id = id.clone();
            let size = self
                .blocking(move |s| {
                    Ok(s.rw_mount(&rw_id)
                        .map_or(0, |m| crate::disk_usage::tree_size(&m.upper)))
                })
                .await
                .unwrap_or(0);
            // Removal re-checks the state under the container's lock: one started since
            // it was picked is a conflict and stays.
            match self.remove(&id, false, false).await {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(id);
                }
                Err(e) => tracing::warn!(container = %id, "prune: {e}"),
            }
        }
        self.emit(
            "container",
            "prune",
            "",
            BTreeMap::from([("reclaimed".into(), reclaimed.to_string())]),
        );
        Ok(ContainerPruneReport {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry((*k).into()).or_default().push((*v).into());
        }
        m
    }

    #[test]
    fn only_stopped_containers_are_prunable() {
        let none = BTreeMap::new();
        let l = BTreeMap::new();
        for s in [Status::Created, Status::Exited, Status::Dead] {
            assert!(prunable(s, 0, &l, None, &none), "{s:?}");
        }
        for s in [
            Status::Running,
            Status::Paused,
            Status::Restarting,
            Status::Removing,
        ] {
            assert!(!prunable(s, 0, &l, None, &none), "{s:?}");
        }
    }

    #[test]
    fn until_and_labels() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let none = BTreeMap::new();
        assert!(prunable(Status::Exited, 100, &labels, Some(200), &none));
        assert!(!prunable(Status::Exited, 200, &labels, Some(200), &none));
        assert!(prunable(
            Status::Exited,
            0,
            &labels,
            None,
            &f(&[("label", "app")])
        ));
        assert!(prunable(
            Status::Exited,
            0,
            &labels,
            None,
            &f(&[("label", "app=web")])
        ));
        assert!(!prunable(
            Status::Exited,
            0,
            &labels,
            None,
            &f(&[("label", "app=db")])
        ));
        assert!(!prunable(
            Status::Exited,
            0,
            &labels,
            None,
            &f(&[("label!", "app")])
        ));
        assert!(prunable(
            Status::Exited,
            0,
            &labels,
            None,
            &f(&[("label!", "x")])
        ));
    }

    #[test]
    fn one_prune_at_a_time() {
        let flag = AtomicBool::new(false);
        let g = PruneGuard::take(&flag).unwrap();
        let e = PruneGuard::take(&flag).err().unwrap();
        assert_eq!(e.message, "a prune operation is already running");
        assert_eq!(e.kind, berth_model::ErrorKind::Conflict);
        drop(g);
        assert!(PruneGuard::take(&flag).is_ok());
    }

    #[test]
    fn filter_validation() {
        assert_eq!(check_filters(&BTreeMap::new()).unwrap(), None);
        let e = check_filters(&f(&[("status", "exited")])).unwrap_err();
        assert_eq!(e.message, "invalid filter 'status'");
        assert!(check_filters(&f(&[("until", "1700000000")]))
            .unwrap()
            .is_some_and(|t| t == 1_700_000_000));
        assert!(check_filters(&f(&[("until", "soon")])).is_err());
        assert!(check_filters(&f(&[("until", "1h"), ("until", "2h")])).is_err());
    }
}

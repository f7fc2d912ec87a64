//! dockerd's JSON progress messages.

use serde_json::{json, Value};

/// `{"status": s, "progressDetail": {}, "id": id}`.
pub(crate) fn status_id(status: &str, id: &str) -> Value {
    json!({"status": status, "progressDetail": {}, "id": id})
}

/// `{"status": s}`.
pub(crate) fn status(status: &str) -> Value {
    json!({ "status": status })
}

/// A progress message with dockerd's bar (`[=====>    ]  1.2MB/3.4MB`).
pub(crate) fn bar(status: &str, id: &str, current: u64, total: Option<u64>) -> Value {
    let detail = match total {
        Some(t) if t > 0 => json!({"current": current, "total": t}),
        _ => json!({ "current": current }),
    };
    json!({
        "status": status,
        "progressDetail": detail,
        "progress": progress_text(current, total),
        "id": id,
    })
}

/// Docker's `JSONProgress.String()` without the time estimate.
pub(crate) fn progress_text(current: u64, total: Option<u64>) -> String {
    let cur = human_size(current);
    match total.filter(|t| *t > 0) {
        None => format!("{cur:>8}"),
        Some(t) => {
            let n = if current >= t {
                50
            } else {
                (current as f64 / t as f64 * 50.0) as usize
            };
            let bar = format!("[{}>{}] ", "=".repeat(n), " ".repeat(50 - n));
            if current > t {
                format!("{bar}{cur:>8}")
            } else {
                format!("{bar}{cur:>8}/{}", human_size(t))
            }
        }
    }
}

/// Go's `units.HumanSize`: decimal units, four significant digits.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as i32 + 1).max(1)
    };
    let decimals = (4 - int_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(98), "98B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(35840), "35.84kB");
        assert_eq!(human_size(1985573), "1.986MB");
        assert_eq!(human_size(2140160), "2.14MB");
        assert_eq!(human_size(2560), "2.56kB");
    }

    #[test]
    fn bars_as_docker_draws_them() {
        assert_eq!(
            progress_text(98, Some(98)),
            "[==================================================>]      98B/98B"
        );
        assert_eq!(
            progress_text(35840, Some(1985573)),
            "[>                                                  ]  35.84kB/1.986MB"
        );
        assert_eq!(
            progress_text(2140160, Some(1985573)),
            "[==================================================>]   2.14MB"
        );
        assert_eq!(progress_text(1536, None), " 1.536kB");
    }
}

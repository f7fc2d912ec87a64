//! Query strings parsed the way dockerd's Go handlers read them (`r.FormValue`,
//! `httputils.BoolValue`), because clients rely on those exact spellings.

use berth_model::Error;
use percent_encoding::percent_decode_str;
use std::str::FromStr;

/// Decoded `key=value` pairs in request order; keys may repeat (`changes=...&changes=...`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(Vec<(String, String)>);

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw else {
            return Self::default();
        };
        Self(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// First value, like Go's `FormValue`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// First value, `None` when absent or empty: most optional parameters treat both alike.
    pub(crate) fn non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub(crate) fn get_all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// dockerd's `BoolValue`: everything except "", "0", "no", "false" and "none"
    /// (any case, trimmed) is true, so `?all=1`, `?all=true` and `?all=True` agree.
    pub(crate) fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// A number, `None` when absent or empty; a malformed one is the client's fault (400).
    pub(crate) fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::invalid(format!("invalid value for {key}: \"{v}\""))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let q = Query::parse(Some(
            "all=True&x&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&t=5",
        ));
        assert!(q.bool("all"));
        assert!(!q.bool("x"));
        assert!(!q.bool("missing"));
        assert_eq!(q.get_all("changes"), vec!["CMD [\"sh\"]", "ENV A=1"]);
        assert_eq!(q.number::<i64>("t").unwrap(), Some(5));
        assert_eq!(q.number::<i64>("missing").unwrap(), None);
        assert!(Query::parse(Some("t=abc")).number::<i64>("t").is_err());
        for f in ["0", "false", "FALSE", "no", "none", ""] {
            assert!(!Query::parse(Some(&format!("v={f}"))).bool("v"), "{f}");
        }
        for t in ["1", "true", "yes", "True"] {
            assert!(Query::parse(Some(&format!("v={t}"))).bool("v"), "{t}");
        }
    }
}

//! Port numbers as Docker writes them in `-p`, `EXPOSE`, `ExposedPorts` keys and
//! `HostPort`: one parser for the CLI, the builder and the engine.

/// `start[-end]`: both ends 16-bit decimal numbers, `end >= start`; a single port is
/// `(p, p)`. `None` for anything else.
pub fn port_range(s: &str) -> Option<(u16, u16)> {
    let num = |p: &str| -> Option<u16> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    match s.split_once('-') {
        None => num(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (b >= a).then_some((a, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(port_range("80"), Some((80, 80)));
        assert_eq!(port_range("8000-8010"), Some((8000, 8010)));
        for bad in ["", "-", "81-80", "80-", "x", "+80", "70000", "1-2-3"] {
            assert_eq!(port_range(bad), None, "{bad}");
        }
    }
}

//! Health check configuration as Docker handles it: Go's duration syntax (the CLI flags
//! and `HEALTHCHECK` options use it, and probe timeouts are reported in it), the merge of
//! an image's check into a container's, the daemon's checks, and the `HEALTHCHECK`
//! instruction's arguments (shared by `import --change` and the Dockerfile builder).

use crate::api::HealthConfig;
use crate::Error;

/// The interval before the first probe and between probes.
pub const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
/// How long one probe may run.
pub const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
/// The interval between probes during the start period.
pub const DEFAULT_START_INTERVAL_NS: i64 = 5_000_000_000;
/// Consecutive failures that make a container unhealthy.
pub const DEFAULT_RETRIES: i64 = 3;
/// Docker refuses non-zero durations below this (`container.MinimumDuration`).
pub const MINIMUM_DURATION_NS: i64 = 1_000_000;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// Go's `time` package quoting, as its error messages show values.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration` (nanoseconds), with its error messages, so that flags and
/// `HEALTHCHECK` options accept and refuse exactly what Docker does.
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &d in &b[..int_len] {
            if v > (1u64 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(d - b'0');
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        let pre = int_len > 0;
        // Fraction: digits past what fits are consumed but ignored, as Go does.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fb = s.as_bytes();
            let flen = fb.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &d in &fb[..flen] {
                if overflow {
                    continue;
                }
                if frac > (1u64 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(d - b'0');
                if y > 1u64 << 63 {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            post = flen > 0;
            s = &s[flen..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit = match u {
            "ns" => NS,
            "us" | "\u{b5}s" | "\u{3bc}s" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => 60 * SEC,
            "h" => 3600 * SEC,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(u),
                    quote(orig)
                ))
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        total += v;
        if total > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > (1u64 << 63) - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Go's `fmtFrac`: `v` with `prec` decimal digits, trailing zeros (and a bare point)
/// dropped; returns the text of the fraction and the integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let mut v = v;
    let mut digits = Vec::new();
    let mut printed = false;
    for _ in 0..prec {
        let d = v % 10;
        printed = printed || d != 0;
        if printed {
            digits.push(char::from(b'0' + d as u8));
        }
        v /= 10;
    }
    if printed {
        digits.push('.');
    }
    digits.reverse();
    (digits.into_iter().collect(), v)
}

/// Go's `time.Duration.String` (`1m30s`, `500ms`, `1.5µs`), which Docker uses in the
/// timeout message of a probe.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < SEC {
        let (unit, prec) = if u < US {
            return format!("{sign}{u}ns");
        } else if u < MS {
            ("\u{b5}s", 3)
        } else {
            ("ms", 6)
        };
        let (f, int) = frac(u, prec);
        return format!("{sign}{int}{f}{unit}");
    }
    let (f, secs) = frac(u, 9);
    let mut out = format!("{}{f}s", secs % 60);
    let mins = secs / 60;
    if mins > 0 {
        out = format!("{}m{out}", mins % 60);
        let hours = mins / 60;
        if hours > 0 {
            out = format!("{hours}h{out}");
        }
    }
    format!("{sign}{out}")
}

/// Docker's merge (daemon `merge`): a container's check takes the image's values for
/// each field it leaves at zero, and the image's check whole when it has none.
pub fn merge(
    container: Option<HealthConfig>,
    image: Option<&HealthConfig>,
) -> Option<HealthConfig> {
    let Some(image) = image else {
        return container;
    };
    let Some(mut c) = container else {
        return Some(image.clone());
    };
    if c.test.as_ref().is_none_or(|t| t.is_empty()) {
        c.test = image.test.clone();
    }
    for (mine, theirs) in [
        (&mut c.interval, image.interval),
        (&mut c.timeout, image.timeout),
        (&mut c.start_period, image.start_period),
        (&mut c.start_interval, image.start_interval),
        (&mut c.retries, image.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    Some(c)
}

/// The daemon's checks of a create request (`validateHealthCheck`), with its messages.
pub fn validate(hc: &HealthConfig) -> Result<(), Error> {
    let min = format_go_duration(MINIMUM_DURATION_NS);
    for (name, v) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if v != 0 && v < MINIMUM_DURATION_NS {
            return Err(Error::invalid(format!(
                "{name} in Healthcheck cannot be less than {min}"
            )));
        }
    }
    if hc.retries < 0 {
        return Err(Error::invalid("Retries in Healthcheck cannot be negative"));
    }
    Ok(())
}

/// What a probe runs: the argv, or `None` when the check is disabled (`NONE`), absent,
/// or of a type Docker does not know (which it ignores with a warning).
pub fn probe_command(hc: &HealthConfig) -> Option<Vec<String>> {
    let test = hc.test.as_ref()?;
    let (kind, rest) = test.split_first()?;
    match kind.as_str() {
        "CMD" if !rest.is_empty() => Some(rest.to_vec()),
        "CMD-SHELL" if !rest.is_empty() => {
            let mut argv = vec!["/bin/sh".to_string(), "-c".to_string()];
            argv.extend(rest.iter().cloned());
            Some(argv)
        }
        _ => None,
    }
}

/// A `HEALTHCHECK` option value as Docker's builder reads it: zero stays zero (inherit),
/// anything else must be at least 1ms.
fn option_duration(name: &str, value: &str) -> Result<i64, String> {
    let d = parse_go_duration(value)?;
    if d == 0 {
        return Ok(0);
    }
    if d < MINIMUM_DURATION_NS {
        return Err(format!(
            "Interval {} cannot be less than {}",
            quote(name),
            format_go_duration(MINIMUM_DURATION_NS)
        ));
    }
    Ok(d)
}

/// Parses the arguments of a `HEALTHCHECK` instruction (what follows the keyword):
/// `NONE`, or `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
/// [--retries=N] CMD command` where the command is a JSON array (exec form, `CMD`) or a
/// string run by the shell (`CMD-SHELL`).
pub fn parse_healthcheck(args: &str) -> Result<HealthConfig, String> {
    const FLAGS: [&str; 5] = [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ];
    let mut rest = args.trim_start();
    let mut values: Vec<(&str, String)> = Vec::new();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[2..end];
        rest = rest[end..].trim_start();
        if token.is_empty() {
            break; // `--` ends the options
        }
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        let Some(known) = FLAGS.iter().find(|f| **f == name) else {
            return Err(format!("Unknown flag: {name}"));
        };
        let Some(value) = value else {
            return Err(format!("Missing a value on flag: {name}"));
        };
        if values.iter().any(|(n, _)| n == known) {
            return Err(format!("Duplicate flag specified: {name}"));
        }
        values.push((known, value.to_string()));
    }
    let (kind, cmd) = match rest.split_once(char::is_whitespace) {
        Some((k, c)) => (k, c.trim()),
        None => (rest, ""),
    };
    if kind.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".into());
    }
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !cmd.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
    }
    if kind != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            quote(&kind)
        ));
    }
    let test = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(argv) if !argv.is_empty() => [vec!["CMD".to_string()], argv].concat(),
        Ok(_) => return Err("Missing command after HEALTHCHECK CMD".into()),
        Err(_) if cmd.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
        Err(_) => vec!["CMD-SHELL".to_string(), cmd.to_string()],
    };
    let mut hc = HealthConfig {
        test: Some(test),
        ..Default::default()
    };
    for (name, value) in values {
        match name {
            "interval" => hc.interval = option_duration(name, &value)?,
            "timeout" => hc.timeout = option_duration(name, &value)?,
            "start-period" => hc.start_period = option_duration(name, &value)?,
            "start-interval" => hc.start_interval = option_duration(name, &value)?,
            _ => {
                let n: i64 = value.parse().map_err(|_| {
                    format!(
                        "strconv.ParseInt: parsing {}: invalid syntax",
                        quote(&value)
                    )
                })?;
                if i32::try_from(n).is_err() {
                    return Err(format!(
                        "strconv.ParseInt: parsing {}: value out of range",
                        quote(&value)
                    ));
                }
                if n < 0 {
                    return Err(format!("--retries cannot be negative ({n})"));
                }
                hc.retries = n;
            }
        }
    }
    Ok(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("200ms"), Ok(200_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h2m"), Ok(5_520_000_000_000));
        assert_eq!(parse_go_duration("1.5µs"), Ok(1500));
        assert_eq!(parse_go_duration("1us"), Ok(1000));
        assert_eq!(parse_go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(parse_go_duration("+.5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
        assert_eq!(
            parse_go_duration("abc"),
            Err(r#"time: invalid duration "abc""#.into())
        );
        assert_eq!(
            parse_go_duration("5"),
            Err(r#"time: missing unit in duration "5""#.into())
        );
        assert_eq!(
            parse_go_duration("5x"),
            Err(r#"time: unknown unit "x" in duration "5x""#.into())
        );
        assert_eq!(
            parse_go_duration(""),
            Err(r#"time: invalid duration """#.into())
        );
        assert_eq!(
            parse_go_duration("."),
            Err(r#"time: invalid duration ".""#.into())
        );
        assert!(parse_go_duration("9999999999h").is_err());
    }

    #[test]
    fn go_durations_format() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(1), "1ns");
        assert_eq!(format_go_duration(1500), "1.5µs");
        assert_eq!(format_go_duration(1_000_000), "1ms");
        assert_eq!(format_go_duration(500_000_000), "500ms");
        assert_eq!(format_go_duration(1_000_000_000), "1s");
        assert_eq!(format_go_duration(1_500_000_000), "1.5s");
        assert_eq!(format_go_duration(30_000_000_000), "30s");
        assert_eq!(format_go_duration(90_000_000_000), "1m30s");
        assert_eq!(format_go_duration(120_000_000_000), "2m0s");
        assert_eq!(format_go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_go_duration(-2_000_000_000), "-2s");
    }

    #[test]
    fn merge_field_by_field() {
        let image = HealthConfig {
            test: Some(vec!["CMD".into(), "check".into()]),
            interval: 5,
            timeout: 6,
            start_period: 7,
            start_interval: 8,
            retries: 9,
        };
        assert_eq!(merge(None, Some(&image)), Some(image.clone()));
        assert_eq!(merge(Some(hc(&["NONE"])), None), Some(hc(&["NONE"])));
        assert_eq!(merge(None, None), None);
        let mine = HealthConfig {
            interval: 1_000_000,
            retries: 1,
            ..Default::default()
        };
        let got = merge(Some(mine), Some(&image)).unwrap();
        assert_eq!(got.test, image.test);
        assert_eq!(
            (
                got.interval,
                got.timeout,
                got.start_period,
                got.start_interval,
                got.retries
            ),
            (1_000_000, 6, 7, 8, 1)
        );
        let got = merge(Some(hc(&["NONE"])), Some(&image)).unwrap();
        assert_eq!(got.test, Some(vec!["NONE".to_string()]));
        assert_eq!(got.interval, 5);
    }

    #[test]
    fn daemon_validation() {
        assert!(validate(&hc(&["CMD", "x"])).is_ok());
        let e = validate(&HealthConfig {
            interval: 999_999,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.message, "Interval in Healthcheck cannot be less than 1ms");
        let e = validate(&HealthConfig {
            start_interval: -1,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.message,
            "StartInterval in Healthcheck cannot be less than 1ms"
        );
        let e = validate(&HealthConfig {
            retries: -1,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.message, "Retries in Healthcheck cannot be negative");
    }

    #[test]
    fn probe_commands() {
        assert_eq!(
            probe_command(&hc(&["CMD-SHELL", "true || x"])),
            Some(vec!["/bin/sh".into(), "-c".into(), "true || x".into()])
        );
        assert_eq!(
            probe_command(&hc(&["CMD", "/bin/check", "-v"])),
            Some(vec!["/bin/check".into(), "-v".into()])
        );
        assert_eq!(probe_command(&hc(&["NONE"])), None);
        assert_eq!(probe_command(&hc(&["CMD"])), None);
        assert_eq!(probe_command(&hc(&["HTTP", "x"])), None);
        assert_eq!(probe_command(&HealthConfig::default()), None);
    }

    #[test]
    fn healthcheck_instruction() {
        let got = parse_healthcheck(
            "--interval=5s --timeout=3s --start-period=1m --start-interval=1s --retries=4 CMD curl -f http://x/ || exit 1",
        )
        .unwrap();
        assert_eq!(
            got,
            HealthConfig {
                test: Some(vec![
                    "CMD-SHELL".into(),
                    "curl -f http://x/ || exit 1".into()
                ]),
                interval: 5_000_000_000,
                timeout: 3_000_000_000,
                start_period: 60_000_000_000,
                start_interval: 1_000_000_000,
                retries: 4,
            }
        );
        assert_eq!(
            parse_healthcheck(r#"cmd ["/bin/check", "-v"]"#)
                .unwrap()
                .test,
            Some(vec!["CMD".into(), "/bin/check".into(), "-v".into()])
        );
        assert_eq!(parse_healthcheck("NONE").unwrap(), hc(&["NONE"]));
        assert_eq!(parse_healthcheck(" none ").unwrap(), hc(&["NONE"]));
        let err = |s: &str| parse_healthcheck(s).unwrap_err();
        assert_eq!(err("NONE x"), "HEALTHCHECK NONE takes no arguments");
        assert_eq!(err(""), "HEALTHCHECK requires at least one argument");
        assert_eq!(err("CMD"), "Missing command after HEALTHCHECK CMD");
        assert_eq!(err("CMD []"), "Missing command after HEALTHCHECK CMD");
        assert_eq!(
            err("HTTP /x"),
            r#"Unknown type "HTTP" in HEALTHCHECK (try CMD)"#
        );
        assert_eq!(err("--color=red CMD x"), "Unknown flag: color");
        assert_eq!(err("--interval CMD x"), "Missing a value on flag: interval");
        assert_eq!(
            err("--retries=1 --retries=2 CMD x"),
            "Duplicate flag specified: retries"
        );
        assert_eq!(
            err("--interval=5 CMD x"),
            r#"time: missing unit in duration "5""#
        );
        assert_eq!(
            err("--timeout=10us CMD x"),
            r#"Interval "timeout" cannot be less than 1ms"#
        );
        assert_eq!(
            err("--retries=-1 CMD x"),
            "--retries cannot be negative (-1)"
        );
        assert_eq!(
            err("--retries=x CMD x"),
            r#"strconv.ParseInt: parsing "x": invalid syntax"#
        );
        // Zero means inherit, as Docker reads it.
        assert_eq!(
            parse_healthcheck("--interval=0s CMD x").unwrap().interval,
            0
        );
    }
}

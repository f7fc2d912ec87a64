//! Output helpers that reproduce the docker CLI's exact text: go-units sizes and
//! durations, Go's `%g` and `strconv.Quote`, `text/tabwriter` alignment and `json.Indent`.

/// `stringid.TruncateID`: drop the algorithm prefix, keep 12 hex digits.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// go-units `HumanSizeWithPrecision` (decimal units); `docker images` uses precision 3.
pub fn human_size(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), UNITS[i])
}

/// Go's `%.{p}g`: shortest of fixed or exponent form, trailing zeros removed.
pub fn go_g(x: f64, p: usize) -> String {
    let p = p.max(1);
    if x == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{:.*e}", p - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration`, used for "CREATED … ago" and "Up …".
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0).round() as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
    }
}

/// "5 seconds ago" for a unix timestamp.
pub fn since(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    format!("{} ago", human_duration((now - unix as f64).max(0.0)))
}

/// Go's `time.Time.String()`-like local rendering used by `CreatedAt` fields.
pub fn created_at(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %z %Z").to_string(),
        None => String::new(),
    }
}

/// The docker CLI's `Ellipsis`: cut to `max` characters, the last one being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote`, which `docker ps` applies to COMMAND.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `text/tabwriter` with the docker CLI's settings (minwidth 10, padding 3, spaces):
/// tab-terminated cells are aligned per column block; the last cell of a line is not.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, MIN_WIDTH, PADDING)
}

/// [`tabwrite`] with other cell settings (`docker top` uses minwidth 20, padding 3).
pub fn tabwrite_with(text: &str, min_width: usize, padding: usize) -> String {
    let had_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    let cell = Cell { min_width, padding };
    format_block(&lines, 0, lines.len(), cell, &mut widths, &mut out);
    if !had_newline && out.ends_with('\n') {
        out.pop();
    }
    out
}

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

#[derive(Clone, Copy)]
struct Cell {
    min_width: usize,
    padding: usize,
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    cell: Cell,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = cell.min_width;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + cell.padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, cell, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

/// Go's `json.Indent`: re-indents raw JSON without re-ordering keys, so `inspect` shows
/// the daemon's field order.
pub fn json_indent(raw: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut need_indent = false;
    let text = String::from_utf8_lossy(raw);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in text.trim().chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(1985573.0, 3), "1.99MB");
        assert_eq!(human_size(1982333.0, 3), "1.98MB");
        assert_eq!(human_size(106839933.0, 3), "107MB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(999.0, 3), "999B");
        assert_eq!(human_size(1234.0, 3), "1.23kB");
        assert_eq!(human_size(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(5_000_000_000.0, 3), "5GB");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(5.0), "5 seconds");
        assert_eq!(human_duration(61.0), "About a minute");
        assert_eq!(human_duration(9.0 * 60.0), "9 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5.0 * 3600.0), "5 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(20.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }

    #[test]
    fn command_quote_and_ellipsis() {
        let cmd = "sh -c 'echo early; sleep 2; echo late; sleep 60'";
        assert_eq!(go_quote(&ellipsis(cmd, 20)), "\"sh -c 'echo early; …\"");
        assert_eq!(go_quote(&ellipsis("sleep 300", 20)), "\"sleep 300\"");
        assert_eq!(go_quote("a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\x01\"");
        assert_eq!(short_id("sha256:c5d0e22aaf7a42bbcbf3"), "c5d0e22aaf7a");
    }

    #[test]
    fn tabwriter_matches_docker_ps() {
        let t = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n\
                 01e16c49631c\tbusybox\t\"sleep 300\"\t1 second ago\tUp Less than a second\t\tresearch-trace-d\n\
                 d7cbb7615388\tbusybox\t\"sh -c 'echo early; …\"\t1 second ago\tUp Less than a second\t\thx-22-logs-follow-916110-a\n";
        let want = "CONTAINER ID   IMAGE     COMMAND                  CREATED        STATUS                  PORTS     NAMES\n\
                    01e16c49631c   busybox   \"sleep 300\"              1 second ago   Up Less than a second             research-trace-d\n\
                    d7cbb7615388   busybox   \"sh -c 'echo early; …\"   1 second ago   Up Less than a second             hx-22-logs-follow-916110-a\n";
        assert_eq!(tabwrite(t), want);
    }

    #[test]
    fn json_indent_keeps_order() {
        let raw = br#"{"Id":"x","Args":["300"],"Empty":{},"L":[],"S":"a,b:{}","N":null}"#;
        let want = "{\n    \"Id\": \"x\",\n    \"Args\": [\n        \"300\"\n    ],\n    \"Empty\": {},\n    \"L\": [],\n    \"S\": \"a,b:{}\",\n    \"N\": null\n}";
        assert_eq!(json_indent(raw, "    "), want);
    }
}

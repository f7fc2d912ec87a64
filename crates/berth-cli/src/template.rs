//! `--format` templates: Go `text/template` through gotmpl, with the functions the docker
//! CLI registers (`json`, `join`, `split`, `lower`, `upper`, `title`, `truncate`, `pad`,
//! `println`) and its `table` prefix.

use gotmpl::{Template, TemplateError, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.as_str().into()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::<str>::from(k.as_str()), from_json(v)))
                .collect(),
        )),
    }
}

pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
        #[allow(unreachable_patterns)]
        _ => serde_json::Value::Null,
    }
}

/// A map of plain strings, the shape of the docker CLI's ps/images row contexts.
pub fn string_map(pairs: &[(&str, String)]) -> Value {
    let m: BTreeMap<Arc<str>, Value> = pairs
        .iter()
        .map(|(k, v)| (Arc::<str>::from(*k), Value::String(v.as_str().into())))
        .collect();
    Value::Map(Arc::new(m))
}

fn arg_str(args: &[Value], i: usize) -> String {
    match args.get(i) {
        Some(Value::String(s)) => s.to_string(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn arg_int(args: &[Value], i: usize) -> Result<i64, TemplateError> {
    args.get(i)
        .and_then(Value::as_int)
        .ok_or_else(|| TemplateError::Exec(format!("argument {i} must be an integer")))
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric();
    }
    out
}

/// Parses a `--format` value. A leading `table ` is the caller's business (see
/// [`split_table`]); this only compiles the Go template with docker's functions.
pub fn parse(src: &str) -> anyhow::Result<Template> {
    let t = Template::new("")
        .func("json", |args| {
            let v = args.first().map(to_json).unwrap_or(serde_json::Value::Null);
            Ok(Value::String(
                serde_json::to_string(&v).unwrap_or_default().into(),
            ))
        })
        .func("join", |args| {
            let sep = arg_str(args, 1);
            let items: Vec<String> = match args.first() {
                Some(Value::List(l)) => l
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.to_string(),
                        v => v.to_string(),
                    })
                    .collect(),
                Some(Value::Nil) | None => Vec::new(),
                Some(v) => vec![v.to_string()],
            };
            Ok(Value::String(items.join(&sep).into()))
        })
        .func("split", |args| {
            let s = arg_str(args, 0);
            let sep = arg_str(args, 1);
            Ok(Value::List(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ))
        })
        .func("lower", |args| {
            Ok(Value::String(arg_str(args, 0).to_lowercase().into()))
        })
        .func("upper", |args| {
            Ok(Value::String(arg_str(args, 0).to_uppercase().into()))
        })
        .func("title", |args| {
            Ok(Value::String(title_case(&arg_str(args, 0)).into()))
        })
        .func("truncate", |args| {
            let s = arg_str(args, 0);
            let n = arg_int(args, 1)?.max(0) as usize;
            Ok(Value::String(s.chars().take(n).collect::<String>().into()))
        })
        .func("pad", |args| {
            let s = arg_str(args, 0);
            let l = arg_int(args, 1)?.max(0) as usize;
            let r = arg_int(args, 2)?.max(0) as usize;
            Ok(Value::String(
                format!("{}{s}{}", " ".repeat(l), " ".repeat(r)).into(),
            ))
        })
        .parse(src)
        .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
    Ok(t)
}

pub fn render(t: &Template, data: &Value) -> anyhow::Result<String> {
    t.execute_to_string(data)
        .map_err(|e| anyhow::anyhow!("template: {e}"))
}

/// Renders one template against JSON (inspect `-f`).
pub fn render_json(src: &str, data: &serde_json::Value) -> anyhow::Result<String> {
    render(&parse(src)?, &from_json(data))
}

/// `table {{.ID}}\t…` → (true, `{{.ID}}\t…`). Docker also unescapes a literal `\t`.
pub fn split_table(format: &str) -> (bool, String) {
    let unescaped = format.replace("\\t", "\t").replace("\\n", "\n");
    match unescaped.strip_prefix("table") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim_start_matches([' ']).to_string())
        }
        _ => (false, unescaped),
    }
}

/// Renders rows the way the docker CLI's formatter does: with `table`, a header row made
/// by running the template over the column titles, then every row, through the
/// tabwriter; otherwise one rendered line per row.
pub fn render_rows(
    format: &str,
    headers: &[(&str, String)],
    rows: &[Value],
) -> anyhow::Result<String> {
    let (table, body) = split_table(format);
    let t = parse(&body)?;
    let mut out = String::new();
    if table {
        out.push_str(&render(&t, &string_map(headers))?);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&render(&t, row)?);
        out.push('\n');
    }
    Ok(if table {
        crate::format::tabwrite(&out)
    } else {
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inspect_templates() {
        let c = json!({
            "State": {"Status": "exited", "ExitCode": 3, "Running": false},
            "Config": {"Hostname": "rth", "Env": ["A=1", "B=two"], "Labels": {"k": "v"}}
        });
        assert_eq!(render_json("{{.State.Status}}", &c).unwrap(), "exited");
        assert_eq!(render_json("{{.State.ExitCode}}", &c).unwrap(), "3");
        assert_eq!(render_json("{{.Config.Hostname}}", &c).unwrap(), "rth");
        assert_eq!(
            render_json("{{json .Config.Env}}", &c).unwrap(),
            r#"["A=1","B=two"]"#
        );
        assert_eq!(
            render_json("{{json .Config.Labels}}", &c).unwrap(),
            r#"{"k":"v"}"#
        );
        assert_eq!(render_json("{{.Config.Env}}", &c).unwrap(), "[A=1 B=two]");
        assert_eq!(
            render_json("{{join .Config.Env \",\"}}", &c).unwrap(),
            "A=1,B=two"
        );
        assert_eq!(
            render_json("{{upper .State.Status}}", &c).unwrap(),
            "EXITED"
        );
        assert_eq!(render_json("{{.State.Running}}", &c).unwrap(), "false");
        assert!(render_json("{{.State", &c).is_err());
    }

    #[test]
    fn table_prefix() {
        assert_eq!(
            split_table("table {{.ID}}\\t{{.Names}}"),
            (true, "{{.ID}}\t{{.Names}}".into())
        );
        assert_eq!(split_table("{{.ID}}"), (false, "{{.ID}}".into()));
        assert_eq!(split_table("tablex"), (false, "tablex".into()));
    }

    #[test]
    fn rows_with_and_without_table() {
        let rows = vec![string_map(&[("ID", "abc".into()), ("Names", "web".into())])];
        let headers = [
            ("ID", "CONTAINER ID".to_string()),
            ("Names", "NAMES".to_string()),
        ];
        assert_eq!(
            render_rows("{{.ID}} {{.Names}}", &headers, &rows).unwrap(),
            "abc web\n"
        );
        assert_eq!(
            render_rows("table {{.ID}}\t{{.Names}}", &headers, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
    }
}

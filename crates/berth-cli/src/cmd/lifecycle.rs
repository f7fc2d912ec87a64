//! `pause`, `unpause`, `rename` and `top`.

use crate::client::{query, seg, Client};
use crate::cmd::container::for_each;
use crate::format::tabwrite_with;
use berth_model::api::TopResponse;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `POST /containers/{c}/{verb}` for each name, printing the name as docker does.
async fn each_verb(client: &Client, names: &[String], verb: &str) -> anyhow::Result<i32> {
    for_each(client, names, |n| async move {
        client
            .post(&format!("/containers/{}/{verb}", seg(&n)))
            .await?;
        Ok(n)
    })
    .await
}

pub async fn pause(client: &Client, a: PauseArgs) -> anyhow::Result<i32> {
    each_verb(client, &a.containers, "pause").await
}

pub async fn unpause(client: &Client, a: PauseArgs) -> anyhow::Result<i32> {
    each_verb(client, &a.containers, "unpause").await
}

#[derive(Debug, Clone, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub old: String,
    #[arg(value_name = "NEW_NAME")]
    pub new: String,
}

pub async fn rename(client: &Client, a: RenameArgs) -> anyhow::Result<i32> {
    let (old, new) = (a.old.trim(), a.new.trim());
    if old.is_empty() || new.is_empty() {
        anyhow::bail!("Neither old nor new names may be empty");
    }
    client.ping().await?;
    let q = query(&[("name", new.to_string())]);
    client
        .post(&format!("/containers/{}/rename{q}", seg(old)))
        .await?;
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// CONTAINER [ps OPTIONS]; everything after the container goes to ps
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CONTAINER [ps OPTIONS]"
    )]
    pub args: Vec<String>,
}

/// docker's table: tabwriter (minwidth 20, padding 3), titles then one line per process.
pub fn render_top(t: &TopResponse) -> String {
    let mut text = t.titles.join("\t");
    text.push('\n');
    for p in &t.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    tabwrite_with(&text, 20, 3)
}

pub async fn top(client: &Client, a: TopArgs) -> anyhow::Result<i32> {
    let q = if a.args.len() > 1 {
        query(&[("ps_args", a.args[1..].join(" "))])
    } else {
        String::new()
    };
    client.ping().await?;
    let t: TopResponse = client
        .get_json(&format!("/containers/{}/top{q}", seg(&a.args[0])))
        .await?;
    print!("{}", render_top(&t));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_table_as_docker_prints_it() {
        let t: TopResponse = serde_json::from_str(
            r#"{"Processes":[["root","19584","19556","4","10:43","?","00:00:00","sleep 300"]],"Titles":["UID","PID","PPID","C","STIME","TTY","TIME","CMD"]}"#,
        )
        .unwrap();
        // The CLI output block of 28_lifecycle.txt.
        let trace =
            std::fs::read_to_string("/work/shared/reference/api-traces/28_lifecycle.txt").unwrap();
        let want: String = trace
            .lines()
            .skip_while(|l| !l.starts_with("#   UID "))
            .take(2)
            .map(|l| format!("{}\n", l.strip_prefix("#   ").unwrap()))
            .collect();
        assert_eq!(render_top(&t), want);
        // A wide cell widens its whole column; the last column is never padded.
        let t = TopResponse {
            titles: vec!["PID".into(), "COMMAND".into()],
            processes: vec![
                vec!["1".into(), "sh".into()],
                vec!["12345678901234567890".into(), "sleep 1".into()],
            ],
        };
        assert_eq!(
            render_top(&t),
            format!(
                "PID{}COMMAND\n1{}sh\n12345678901234567890   sleep 1\n",
                " ".repeat(20),
                " ".repeat(22)
            )
        );
    }
}

//! Docker's json-file log format: the writer the shim uses and the readers behind
//! `docker logs`.

mod reader;
mod writer;

pub use reader::{follow_logs, read_logs};
pub use writer::{format_time, go_json_string, rotated_name, JsonLogWriter, MAX_PARTIAL};

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::api::{LogEntry, LogsOptions, StdStream};
    use chrono::{TimeZone, Utc};

    fn all() -> LogsOptions {
        LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    }

    fn logs(entries: &[LogEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.log.as_str()).collect()
    }

    #[test]
    fn splits_lines_and_flushes_partial_at_eof() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, None, 1).unwrap();
        w.write(StdStream::Stdout, b"hello\nwor").unwrap();
        w.write(StdStream::Stderr, b"oops\n").unwrap();
        w.write(StdStream::Stdout, b"ld\n\nlast").unwrap();
        assert_eq!(
            logs(&read_logs(&p, &all()).unwrap()),
            ["hello\n", "oops\n", "world\n", "\n"]
        );
        w.flush_partial().unwrap();
        let e = read_logs(&p, &all()).unwrap();
        assert_eq!(logs(&e), ["hello\n", "oops\n", "world\n", "\n", "last"]);
        assert_eq!(e[1].stream, "stderr");
        assert_eq!(e[4].stream, "stdout");
    }

    #[test]
    fn long_lines_are_cut_at_16k() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, None, 1).unwrap();
        let mut data = vec![b'a'; 40_000];
        data.push(b'\n');
        w.write(StdStream::Stdout, &data[..20_000]).unwrap();
        w.write(StdStream::Stdout, &data[20_000..]).unwrap();
        let e = read_logs(&p, &all()).unwrap();
        let lens: Vec<usize> = e.iter().map(|e| e.log.len()).collect();
        assert_eq!(lens, [MAX_PARTIAL, MAX_PARTIAL, 40_001 - 2 * MAX_PARTIAL]);
        assert!(e[2].log.ends_with('\n'));
    }

    #[test]
    fn encodes_exactly_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, None, 1).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 10, 42, 45).unwrap()
            + chrono::Duration::nanoseconds(123_456_780);
        w.write_at(StdStream::Stdout, b"<a&b> \"q\" \\ \t\x01\xff\n", t)
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "{\"log\":\"\\u003ca\\u0026b\\u003e \\\"q\\\" \\\\ \\t\\u0001\u{fffd}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-29T10:42:45.12345678Z\"}\n"
        );
        assert_eq!(
            format_time(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
            "2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn rotates_with_docker_names_and_reads_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, Some(300), 3).unwrap();
        for i in 0..40 {
            w.write(StdStream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(p.exists());
        assert!(rotated_name(&p, 1).exists());
        assert!(rotated_name(&p, 2).exists());
        assert!(!rotated_name(&p, 3).exists());
        for f in [p.clone(), rotated_name(&p, 1)] {
            let len = std::fs::metadata(&f).unwrap().len();
            assert!(len < 300 + 100, "{f:?} is {len} bytes");
        }
        let e = read_logs(&p, &all()).unwrap();
        assert!(e.len() < 40 && e.len() > 3);
        let first: usize = e[0]
            .log
            .trim()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        let expected: Vec<String> = (first..40).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            logs(&e),
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    #[test]
    fn single_file_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, Some(200), 1).unwrap();
        for i in 0..20 {
            w.write(StdStream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(!rotated_name(&p, 1).exists());
        let e = read_logs(&p, &all()).unwrap();
        assert_eq!(e.last().unwrap().log, "line 19\n");
        assert!(e.len() < 20);
    }

    #[test]
    fn tail_since_until_and_stream_selection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, Some(250), 5).unwrap();
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for i in 0..10i64 {
            let stream = if i % 2 == 0 {
                StdStream::Stdout
            } else {
                StdStream::Stderr
            };
            w.write_at(
                stream,
                format!("{i}\n").as_bytes(),
                base + chrono::Duration::seconds(i),
            )
            .unwrap();
        }
        let secs = base.timestamp() as f64;
        let e = read_logs(&p, &all()).unwrap();
        assert_eq!(e.len(), 10);
        let e = read_logs(
            &p,
            &LogsOptions {
                tail: Some(3),
                ..all()
            },
        )
        .unwrap();
        assert_eq!(logs(&e), ["7\n", "8\n", "9\n"]);
        let e = read_logs(
            &p,
            &LogsOptions {
                tail: Some(0),
                ..all()
            },
        )
        .unwrap();
        assert!(e.is_empty());
        let e = read_logs(
            &p,
            &LogsOptions {
                stderr: false,
                ..all()
            },
        )
        .unwrap();
        assert_eq!(logs(&e), ["0\n", "2\n", "4\n", "6\n", "8\n"]);
        let e = read_logs(
            &p,
            &LogsOptions {
                since: secs + 7.0,
                ..all()
            },
        )
        .unwrap();
        assert_eq!(logs(&e), ["7\n", "8\n", "9\n"]);
        let e = read_logs(
            &p,
            &LogsOptions {
                since: secs + 2.5,
                until: secs + 4.0,
                ..all()
            },
        )
        .unwrap();
        assert_eq!(logs(&e), ["3\n", "4\n"]);
        let e = read_logs(
            &p,
            &LogsOptions {
                tail: Some(4),
                stdout: false,
                ..all()
            },
        )
        .unwrap();
        assert_eq!(logs(&e), ["7\n", "9\n"]);
    }

    #[test]
    fn missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_logs(&dir.path().join("nope.log"), &all())
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn follow_streams_appended_lines_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = JsonLogWriter::open(&p, Some(400), 3).unwrap();
        w.write(StdStream::Stdout, b"before\n").unwrap();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let mut rx = follow_logs(p.clone(), all(), async move {
            let _ = done_rx.await;
        });
        assert_eq!(rx.recv().await.unwrap().log, "before\n");
        for i in 0..30 {
            w.write(StdStream::Stdout, format!("after {i}\n").as_bytes())
                .unwrap();
            if i % 3 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(120)).await;
            }
        }
        w.write(StdStream::Stderr, b"tail").unwrap();
        w.flush_partial().unwrap();
        done_tx.send(()).unwrap();
        let mut got = Vec::new();
        while let Some(e) = rx.recv().await {
            got.push(e.log);
        }
        let mut expected: Vec<String> = (0..30).map(|i| format!("after {i}\n")).collect();
        expected.push("tail".into());
        assert_eq!(got, expected);
    }
}

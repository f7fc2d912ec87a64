//! Feeds arbitrary bytes to the Dockerfile parser and everything downstream of it (stage
//! graph, targets, per-stage expansion, ONBUILD trigger re-parsing) and, split at the first
//! NUL, to the .dockerignore matcher. Any panic (or stack overflow, or hang) is a crash.
#![no_main]

use std::collections::BTreeMap;

use berth_dockerfile::{parse_instruction, Command, Dockerfile, Matcher, StageScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (df_bytes, ignore) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(df) = Dockerfile::parse(df_bytes, "Dockerfile") {
        let mut options = BTreeMap::new();
        options.insert("HTTP_PROXY".to_string(), "http://p".to_string());
        options.insert("A".to_string(), "$B ${C:-x}".to_string());
        if let Ok(graph) = df.graph(&options) {
            let _ = graph.stages_needed(None);
            for s in &df.stages {
                if let Some(n) = &s.name {
                    let _ = graph.stages_needed(Some(n));
                }
            }
        }
        let _ = df.stages_needed(Some("target"));
        if let Ok(args) = df.build_args(&options) {
            for st in &df.stages {
                let mut scope = StageScope::new(&df, &["PATH=/bin", "B=b c"], &args);
                for ins in &st.instructions {
                    let _ = scope.step(ins);
                    if let Command::OnBuild(o) = &ins.command {
                        let _ = parse_instruction(&o.expression, df.directives.escape, "ONBUILD");
                    }
                }
                let _ = scope.run_args();
            }
        }
    }
    if let Ok(m) = Matcher::from_dockerignore(ignore) {
        let text = String::from_utf8_lossy(df_bytes);
        for path in text.lines().take(16) {
            let _ = m.walk(path, true);
            let _ = m.excluded(path);
        }
    }
});

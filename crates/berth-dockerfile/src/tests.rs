//! Whole-file tests: instructions, errors, scoping, stage graph.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::*;

fn parse(src: &str) -> Dockerfile {
    Dockerfile::parse(src.as_bytes(), "Dockerfile").unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn cmds(src: &str) -> Vec<Command> {
    let df = parse(&format!("FROM busybox\n{src}"));
    df.stages[0]
        .instructions
        .iter()
        .map(|i| i.command.clone())
        .collect()
}

fn one(src: &str) -> Command {
    let mut c = cmds(src);
    assert_eq!(c.len(), 1, "{src}");
    c.remove(0)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn benchmark_dockerfile() {
    let df = parse("FROM busybox\nRUN echo a > /a\nCOPY f /f\nENV X=1\nCMD [\"sh\"]\n");
    assert_eq!(df.stages.len(), 1);
    let st = &df.stages[0];
    assert_eq!(st.base, "busybox");
    assert_eq!(st.from.line, 1);
    let i = &st.instructions;
    assert_eq!(i.len(), 4);
    assert_eq!(
        i[0].command,
        Command::Run(Run {
            cmd: CmdLine {
                args: s(&["echo a > /a"]),
                prepend_shell: true
            },
            heredocs: vec![]
        })
    );
    assert_eq!(i[0].original, "RUN echo a > /a");
    assert_eq!(i[0].line, 2);
    match &i[1].command {
        Command::Copy(c) => {
            assert_eq!(c.sources, s(&["f"]));
            assert_eq!(c.dest, "/f");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(i[2].command, Command::Env(vec![kv("X", "1")]));
    assert_eq!(
        i[3].command,
        Command::Cmd(CmdLine {
            args: s(&["sh"]),
            prepend_shell: false
        })
    );
    assert_eq!(df.stages_needed(None).unwrap(), vec![0]);
}

#[test]
fn keywords_are_case_insensitive() {
    let df = parse("from busybox As Build\nrun echo\nCoPy a b\n");
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[0].instructions.len(), 2);
}

#[test]
fn instruction_table() {
    assert_eq!(
        one("MAINTAINER Jane <j@x>"),
        Command::Maintainer("Jane <j@x>".into())
    );
    assert_eq!(
        one("ENTRYPOINT [\"/bin/app\", \"-v\"]"),
        Command::Entrypoint(CmdLine {
            args: s(&["/bin/app", "-v"]),
            prepend_shell: false
        })
    );
    assert_eq!(
        one("CMD echo $HOME"),
        Command::Cmd(CmdLine {
            args: s(&["echo $HOME"]),
            prepend_shell: true
        })
    );
    assert_eq!(one("ENV A b c"), Command::Env(vec![kv("A", "b c")]));
    assert_eq!(
        one("ENV A=1 B=\"x y\" C=a\\ b"),
        Command::Env(vec![kv("A", "1"), kv("B", "\"x y\""), kv("C", "a\\ b")])
    );
    assert_eq!(
        one("LABEL a=b \"c d\"=\"e\""),
        Command::Label(vec![kv("a", "b"), kv("\"c d\"", "\"e\"")])
    );
    assert_eq!(
        one("ARG A B=2 C="),
        Command::Arg(vec![
            ArgDecl {
                key: "A".into(),
                value: None
            },
            ArgDecl {
                key: "B".into(),
                value: Some("2".into())
            },
            ArgDecl {
                key: "C".into(),
                value: Some("".into())
            },
        ])
    );
    assert_eq!(
        one("EXPOSE 8080 80/udp 443"),
        Command::Expose(s(&["443", "80/udp", "8080"]))
    );
    assert_eq!(one("WORKDIR /a b"), Command::Workdir("/a b".into()));
    assert_eq!(one("USER app:app"), Command::User("app:app".into()));
    assert_eq!(one("VOLUME /a /b"), Command::Volume(s(&["/a", "/b"])));
    assert_eq!(
        one("VOLUME [\"/a\", \"/b c\"]"),
        Command::Volume(s(&["/a", "/b c"]))
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Command::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Command::Shell(s(&["/bin/bash", "-c"]))
    );
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Command::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=5s --timeout=1m --start-period=100ms --retries=3 CMD curl -f http://x/"),
        Command::Healthcheck(Healthcheck::Cmd(HealthConfig {
            test: s(&["CMD-SHELL", "curl -f http://x/"]),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            start_period: Duration::from_millis(100),
            retries: 3,
        }))
    );
    assert_eq!(
        one("HEALTHCHECK CMD [\"/bin/check\", \"x\"]"),
        Command::Healthcheck(Healthcheck::Cmd(HealthConfig {
            test: s(&["CMD", "/bin/check", "x"]),
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            start_period: Duration::ZERO,
            retries: 0,
        }))
    );
    match one("COPY --from=build --chown=1:2 --chmod=644 a b /dst/") {
        Command::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("1:2"));
            assert_eq!(c.chmod.as_deref(), Some("644"));
            assert_eq!(c.sources, s(&["a", "b"]));
            assert_eq!(c.dest, "/dst/");
        }
        other => panic!("{other:?}"),
    }
    match one("ADD [\"a b\", \"/c d\"]") {
        Command::Add(c) => {
            assert!(c.json);
            assert_eq!(c.sources, s(&["a b"]));
            assert_eq!(c.dest, "/c d");
        }
        other => panic!("{other:?}"),
    }
    match one("ONBUILD RUN echo hi") {
        Command::OnBuild(o) => {
            assert_eq!(o.expression, "RUN echo hi");
            assert_eq!(o.trigger.unwrap().command.name(), "RUN");
        }
        other => panic!("{other:?}"),
    }
    // Docker only checks a trigger when it fires.
    match one("ONBUILD BOGUS x") {
        Command::OnBuild(o) => assert!(o.trigger.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn heredoc_instructions() {
    let c = cmds(
        "RUN <<EOF\necho $X\nEOF\nCOPY <<-EOT /etc/conf\n\tline\n\tEOT\nCOPY <<'A' /a\n$X\nA\n",
    );
    match &c[0] {
        Command::Run(r) => {
            assert_eq!(r.cmd.args, s(&["<<EOF"]));
            assert_eq!(r.heredocs[0].content, "echo $X\n");
        }
        other => panic!("{other:?}"),
    }
    match &c[1] {
        Command::Copy(cp) => {
            assert!(cp.sources.is_empty());
            assert_eq!(cp.contents[0].path, "EOT");
            assert_eq!(cp.contents[0].data, "line\n");
            assert!(cp.contents[0].expand);
            assert_eq!(cp.dest, "/etc/conf");
        }
        other => panic!("{other:?}"),
    }
    match &c[2] {
        Command::Copy(cp) => {
            assert_eq!(cp.contents[0].data, "$X\n");
            assert!(!cp.contents[0].expand);
        }
        other => panic!("{other:?}"),
    }
    let df = parse("FROM x\nRUN <<EOF\na\nEOF\nRUN b\n");
    let i = &df.stages[0].instructions;
    assert_eq!((i[0].line, i[0].end_line, i[1].line), (2, 4, 5));
}

#[test]
fn error_table() {
    // (dockerfile, line, message)
    let cases: &[(&str, usize, &str)] = &[
        ("FROM x\nRUN a\nRUNN b\n", 3, "unknown instruction: RUNN"),
        ("FROM x\nfoo bar\n", 2, "unknown instruction: FOO"),
        ("FROM\n", 1, "FROM requires either one or three arguments"),
        ("FROM a b\n", 1, "FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", 1, "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        ("FROM x\nENV\n", 2, "ENV requires at least one argument"),
        ("FROM x\nENV A\n", 2, "ENV must have two arguments"),
        ("FROM x\nENV =b\n", 2, "ENV names can not be blank"),
        ("FROM x\nENV a=b c\n", 2, "Syntax error - can't find = in \"c\". Must be of the form: name=value"),
        ("FROM x\nLABEL a\n", 2, "LABEL must have two arguments"),
        ("FROM x\nARG\n", 2, "ARG requires at least one argument"),
        ("FROM x\nARG =x\n", 2, "ARG names can not be blank"),
        ("FROM x\nCOPY a\n", 2, "COPY requires at least two arguments, but only one was provided. Destination could not be determined."),
        ("FROM x\nADD\n", 2, "ADD requires at least two arguments, but only one was provided. Destination could not be determined."),
        ("FROM x\nCOPY --mount=type=cache a b\n", 2, "Unknown flag: mount"),
        ("FROM x\nRUN --mount=type=cache make\n", 2, "Unknown flag: mount"),
        ("FROM x\nADD --from=a b c\n", 2, "Unknown flag: from"),
        ("FROM x\nCOPY --from=a --from=b c d\n", 2, "Duplicate flag specified: from"),
        ("FROM x\nCOPY --from a b\n", 2, "Missing a value on flag: from"),
        ("FROM x\nCOPY a <<EOF\nEOF\n", 2, "COPY cannot accept a heredoc as a destination"),
        ("FROM x\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
        ("FROM x\nUSER\n", 2, "USER requires exactly one argument"),
        ("FROM x\nMAINTAINER\n", 2, "MAINTAINER requires exactly one argument"),
        ("FROM x\nSTOPSIGNAL\n", 2, "STOPSIGNAL requires exactly one argument"),
        ("FROM x\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
        ("FROM x\nVOLUME\n", 2, "VOLUME requires at least one argument"),
        ("FROM x\nVOLUME [\"\"]\n", 2, "VOLUME specified can not be an empty string"),
        ("FROM x\nSHELL /bin/sh -c\n", 2, "SHELL requires the arguments to be in JSON form"),
        ("FROM x\nSHELL []\n", 2, "SHELL requires at least one argument"),
        ("FROM x\nHEALTHCHECK\n", 2, "HEALTHCHECK requires at least one argument"),
        ("FROM x\nHEALTHCHECK NONE x\n", 2, "HEALTHCHECK NONE takes no arguments"),
        ("FROM x\nHEALTHCHECK FOO x\n", 2, "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("FROM x\nHEALTHCHECK CMD\n", 2, "Missing command after HEALTHCHECK CMD"),
        ("FROM x\nHEALTHCHECK --interval=0s CMD x\n", 2, "Interval \"interval\" cannot be less than 1ms"),
        ("FROM x\nHEALTHCHECK --timeout=5 CMD x\n", 2, "time: missing unit in duration \"5\""),
        ("FROM x\nHEALTHCHECK --retries=0 CMD x\n", 2, "--retries must be at least 1 (not 0)"),
        ("FROM x\nHEALTHCHECK --retries=x CMD x\n", 2, "strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("FROM x\nHEALTHCHECK --bogus=1 CMD x\n", 2, "Unknown flag: bogus"),
        ("FROM x\nONBUILD\n", 2, "ONBUILD requires at least one argument"),
        ("FROM x\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM x\nONBUILD FROM y\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
        ("FROM x\nonbuild maintainer y\n", 2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM x\nCMD [\"a\", 1]\n", 2, "when using JSON array syntax, arrays must be comprised of strings only"),
        ("RUN x\nFROM y\n", 1, "no build stage in current context"),
        ("ARG A\nRUN x\n", 2, "no build stage in current context"),
        ("FROM x AS a\nFROM y AS A\n", 2, "a stage name already used"),
        ("FROM x\nRUN <<EOF\nx\n", 2, "unterminated heredoc"),
        ("# escape=`\n# escape=`\nFROM x\n", 2, "only one escape parser directive can be used"),
        ("# escape=a\nFROM x\n", 1, "invalid escape token 'a' does not match ` or \\"),
        ("\n\n# c\n", 3, "file with no instructions"),
    ];
    for (src, line, msg) in cases {
        let err = Dockerfile::parse(src.as_bytes(), "build/Dockerfile.dev").unwrap_err();
        let Error::Syntax(e) = &err else {
            panic!("{src:?}: {err:?}")
        };
        assert_eq!((e.line, e.message.as_str()), (*line, *msg), "{src:?}");
        assert_eq!(e.file, "build/Dockerfile.dev");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("dockerfile parse error line {line}: {msg}")),
            "{shown}"
        );
        assert!(shown.contains("build/Dockerfile.dev"), "{shown}");
    }
    let e = Dockerfile::parse(b"FROM x\nRUN a\nRUNN b c\n", "Dockerfile").unwrap_err();
    assert_eq!(
        e.to_string(),
        "dockerfile parse error line 3: unknown instruction: RUNN (Dockerfile:3: \"RUNN b c\")"
    );
    assert_eq!(
        Dockerfile::parse(b"ARG A=1\n", "Dockerfile").unwrap_err(),
        Error::Invalid("No image was generated. Is your Dockerfile empty?".into())
    );
}

#[test]
fn never_panics_on_odd_input() {
    let inputs: &[&[u8]] = &[
        b"\xff\xfe\x00",
        b"FROM x\nRUN \\",
        b"FROM x\n\\",
        b"\\\n\\\n",
        b"FROM x\nONBUILD",
        b"FROM x\nONBUILD ONBUILD",
        b"FROM x\nCOPY <<",
        b"FROM x\nCOPY <<- /x",
        b"FROM x\nRUN 0<<\"",
        b"FROM x\nHEALTHCHECK --interval=99999999999999999999h CMD x",
        b"FROM x\nCOPY [\"a\"]",
        b"FROM ${\n",
        b"FROM $\n",
        b"# escape=`\nFROM x\nRUN `",
        b"FROM x\nENV a=\"",
        b"FROM x\nENV a \"",
        b"\xef\xbb\xbf",
        b"FROM x\nCOPY --\"",
    ];
    let deep = format!("FROM x\n{}RUN x\n", "ONBUILD ".repeat(8000));
    let e = Dockerfile::parse(deep.as_bytes(), "Dockerfile").unwrap_err();
    assert!(e.to_string().contains("Chaining ONBUILD"), "{e}");
    for i in inputs {
        if let Ok(df) = Dockerfile::parse(i, "Dockerfile") {
            let _ = df.graph(&BTreeMap::new());
            let _ = df.stages_needed(Some("x"));
            if let Ok(args) = df.build_args(&BTreeMap::new()) {
                for st in &df.stages {
                    let mut scope = StageScope::new(&df, &[] as &[&str], &args);
                    for ins in &st.instructions {
                        let _ = scope.step(ins);
                    }
                }
            }
        }
    }
}

fn opts(v: &[(&str, &str)]) -> BTreeMap<String, String> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Expands every instruction of stage `i` from an empty base env.
fn expand_stage(df: &Dockerfile, i: usize, options: &[(&str, &str)]) -> (Vec<Command>, StageScope) {
    let args = df.build_args(&opts(options)).unwrap();
    let mut scope = StageScope::new(df, &["PATH=/usr/bin"], &args);
    let out = df.stages[i]
        .instructions
        .iter()
        .map(|ins| scope.step(ins).unwrap().command)
        .collect();
    (out, scope)
}

#[test]
fn expansion_per_instruction() {
    let df = parse(concat!(
        "FROM x\n",
        "ENV DIR=/app NAME=\"my app\"\n",
        "WORKDIR $DIR\n",
        "COPY ${DIR}/a ${NAME:-x} $DIR/\n",
        "ADD --chown=${UID:-1000} src $DIR\n",
        "RUN echo $DIR\n",
        "CMD echo $DIR\n",
        "ENTRYPOINT [\"$DIR\"]\n",
        "LABEL \"$DIR\"=\"${NAME}\" other='$DIR'\n",
        "USER ${UID:-1000}\n",
        "VOLUME $DIR/data\n",
        "EXPOSE ${PORT:-80}\n",
        "STOPSIGNAL ${SIG:-SIGTERM}\n",
        "ENV DIR=$DIR/sub OTHER=$DIR\n",
        "ENV OLD old $DIR\n",
        "HEALTHCHECK CMD check $DIR\n",
        "ONBUILD COPY $DIR /x\n",
        "ENV P=$PATH:/x\n",
        "ENV ESC=\\$DIR Q='$DIR'\n",
    ));
    let (c, scope) = expand_stage(&df, 0, &[]);
    assert_eq!(c[1], Command::Workdir("/app".into()));
    match &c[2] {
        Command::Copy(cp) => {
            assert_eq!(cp.sources, s(&["/app/a", "my app"]));
            assert_eq!(cp.dest, "/app/");
        }
        o => panic!("{o:?}"),
    }
    match &c[3] {
        Command::Add(a) => assert_eq!(a.chown.as_deref(), Some("1000")),
        o => panic!("{o:?}"),
    }
    match &c[4] {
        Command::Run(r) => assert_eq!(r.cmd.args, s(&["echo $DIR"])),
        o => panic!("{o:?}"),
    }
    match &c[5] {
        Command::Cmd(r) => assert_eq!(r.args, s(&["echo $DIR"])),
        o => panic!("{o:?}"),
    }
    match &c[6] {
        Command::Entrypoint(r) => assert_eq!(r.args, s(&["$DIR"])),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        c[7],
        Command::Label(vec![kv("/app", "my app"), kv("other", "$DIR")])
    );
    assert_eq!(c[8], Command::User("1000".into()));
    assert_eq!(c[9], Command::Volume(s(&["/app/data"])));
    assert_eq!(c[10], Command::Expose(s(&["80"])));
    assert_eq!(c[11], Command::StopSignal("SIGTERM".into()));
    // All pairs of one ENV see the env from before the line.
    assert_eq!(
        c[12],
        Command::Env(vec![kv("DIR", "/app/sub"), kv("OTHER", "/app")])
    );
    assert_eq!(c[13], Command::Env(vec![kv("OLD", "old /app/sub")]));
    match &c[14] {
        Command::Healthcheck(Healthcheck::Cmd(h)) => assert_eq!(h.test[1], "check $DIR"),
        o => panic!("{o:?}"),
    }
    match &c[15] {
        Command::OnBuild(o) => assert_eq!(o.expression, "COPY $DIR /x"),
        o => panic!("{o:?}"),
    }
    assert_eq!(c[16], Command::Env(vec![kv("P", "/usr/bin:/x")]));
    assert_eq!(
        c[17],
        Command::Env(vec![kv("ESC", "$DIR"), kv("Q", "$DIR")])
    );
    assert!(scope.env().contains(&"DIR=/app/sub".to_string()));
}

#[test]
fn copy_list_is_split_before_expansion() {
    // Docker splits COPY's words on blanks first, then expands each as one word: a
    // variable holding spaces stays one path, and quotes do not group words.
    let df = parse("FROM x\nENV F=\"a b\"\nCOPY $F /d\nCOPY \"x y\" /d\n");
    let args = df.build_args(&BTreeMap::new()).unwrap();
    let mut scope = StageScope::new(&df, &[] as &[&str], &args);
    let i = &df.stages[0].instructions;
    scope.step(&i[0]).unwrap();
    match scope.step(&i[1]).unwrap().command {
        Command::Copy(c) => assert_eq!(c.sources, s(&["a b"])),
        o => panic!("{o:?}"),
    }
    let Error::Syntax(e) = scope.step(&i[2]).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        e.message,
        "failed to process \"\\\"x\": unexpected end of statement while looking for matching double-quote"
    );
    assert_eq!((e.line, e.text.as_str()), (4, "COPY \"x y\" /d"));
}

#[test]
fn backtick_escape_file() {
    let df = parse("# escape=`\nFROM x\nENV A=c:\\dir B=`$A\nCOPY a `\n  b\n");
    let (c, _) = expand_stage(&df, 0, &[]);
    assert_eq!(c[0], Command::Env(vec![kv("A", "c:\\dir"), kv("B", "$A")]));
    match &c[1] {
        Command::Copy(cp) => assert_eq!((cp.sources.clone(), cp.dest.as_str()), (s(&["a"]), "b")),
        o => panic!("{o:?}"),
    }
}

#[test]
fn arg_scoping() {
    let df = parse(concat!(
        "ARG VERSION=1.0\n",
        "ARG BASE=alpine:${VERSION}\n",
        "ARG UNSET\n",
        "FROM $BASE AS one\n",
        "RUN x\n",
        "LABEL v=\"$VERSION\"\n", // global not visible in the stage
        "ARG VERSION\n",          // re-declared without value: imports the global
        "LABEL v=\"$VERSION\"\n",
        "ARG LOCAL=l\n",
        "ENV LOCAL=env\n",
        "LABEL l=$LOCAL\n", // ENV wins over ARG
        "ARG OVR=default\n",
        "LABEL o=$OVR p=${HTTP_PROXY:-none} u=${UNSET:-unset}\n",
        "FROM scratch\n",
        "LABEL l=${LOCAL:-gone} v=${VERSION:-gone}\n", // each stage its own scope
        "ARG VERSION=2\n",
        "LABEL v=$VERSION\n", // own default wins over global
    ));
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.bases[0], Base::Image("alpine:1.0".into()));
    assert_eq!(g.bases[1], Base::Scratch);

    let (c, scope) = expand_stage(&df, 0, &[]);
    assert_eq!(c[1], Command::Label(vec![kv("v", "")]));
    assert_eq!(c[3], Command::Label(vec![kv("v", "1.0")]));
    assert_eq!(c[6], Command::Label(vec![kv("l", "env")]));
    assert_eq!(
        c[8],
        Command::Label(vec![kv("o", "default"), kv("p", "none"), kv("u", "unset")])
    );
    // What RUN would see on top of the config env: declared args not shadowed by ENV.
    let run: Vec<String> = scope
        .run_args()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(run, s(&["OVR=default", "VERSION=1.0"]));

    // Build args from outside override defaults, globals included; proxies need no ARG.
    let options = [
        ("VERSION", "3.1"),
        ("OVR", "given"),
        ("HTTP_PROXY", "http://p"),
        ("NOPE", "x"),
    ];
    let g = df.graph(&opts(&options)).unwrap();
    assert_eq!(g.bases[0], Base::Image("alpine:3.1".into()));
    let (c, scope) = expand_stage(&df, 0, &options);
    assert_eq!(c[3], Command::Label(vec![kv("v", "3.1")]));
    assert_eq!(
        c[8],
        Command::Label(vec![
            kv("o", "given"),
            kv("p", "http://p"),
            kv("u", "unset")
        ])
    );
    assert_eq!(scope.build_args().unused(), s(&["NOPE"]));

    let (c, _) = expand_stage(&df, 1, &[]);
    assert_eq!(c[0], Command::Label(vec![kv("l", "gone"), kv("v", "gone")]));
    assert_eq!(c[2], Command::Label(vec![kv("v", "2")]));
}

#[test]
fn from_expansion_errors() {
    let df = parse("ARG IMG\nFROM $IMG\n");
    let e = df.graph(&BTreeMap::new()).unwrap_err();
    let Error::Syntax(e) = e else { panic!() };
    assert_eq!(e.message, "base name ($IMG) should not be blank");
    assert_eq!(e.line, 2);
    let df = parse("FROM ${IMG:?must_be_set}\n");
    let Error::Syntax(e) = df.graph(&BTreeMap::new()).unwrap_err() else {
        panic!()
    };
    assert!(e.message.ends_with("IMG: must_be_set"), "{}", e.message);
    // Stage-local ARGs and ENV are not seen by FROM.
    let df = parse("FROM x\nARG B=y\nFROM ${B:-z}\n");
    assert_eq!(
        df.graph(&BTreeMap::new()).unwrap().bases[1],
        Base::Image("z".into())
    );
}

#[test]
fn stage_graph() {
    let src = concat!(
        "ARG GO=golang:1.22\n",
        "FROM $GO AS Builder\n",
        "RUN build\n",
        "FROM alpine AS tools\n",
        "RUN apk add x\n",
        "FROM builder AS test\n",
        "RUN go test\n",
        "FROM scratch AS unused\n",
        "COPY --from=nginx:latest /etc/nginx /n\n",
        "FROM alpine\n",
        "COPY --from=BUILDER /out /bin/app\n",
        "COPY --from=1 /t /t\n",
        "FROM 0\n",
    );
    let df = parse(src);
    assert_eq!(df.stages.len(), 6);
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.bases[0], Base::Image("golang:1.22".into()));
    assert_eq!(g.bases[2], Base::Stage(0));
    assert_eq!(g.bases[3], Base::Scratch);
    assert_eq!(g.bases[5], Base::Stage(0));
    assert_eq!(
        g.copy_from[3],
        vec![(9, CopySource::Image("nginx:latest".into()))]
    );
    assert_eq!(
        g.copy_from[4],
        vec![(11, CopySource::Stage(0)), (12, CopySource::Stage(1))]
    );
    assert_eq!(g.deps(4), vec![0, 1]);
    let cases: &[(Option<&str>, &[usize])] = &[
        (None, &[0, 5]),
        (Some("builder"), &[0]),
        (Some("TEST"), &[0, 2]),
        (Some("unused"), &[3]),
        (Some("tools"), &[1]),
    ];
    for (target, want) in cases {
        assert_eq!(g.stages_needed(*target).unwrap(), *want, "{target:?}");
    }
    assert_eq!(
        g.stages_needed(Some("nope")).unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
    assert_eq!(df.target_index(Some("Tools")).unwrap(), 1);
    // A later stage's name is an image, not a forward reference.
    let df = parse("FROM later\nFROM alpine AS later\nCOPY --from=2 a b\n");
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.bases[0], Base::Image("later".into()));
    assert_eq!(g.copy_from[1], vec![(3, CopySource::Image("2".into()))]);
    // --from expands with global args.
    let df = parse("ARG SRC=first\nFROM a AS first\nFROM b\nCOPY --from=$SRC x y\n");
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.copy_from[1], vec![(4, CopySource::Stage(0))]);
    assert_eq!(g.stages_needed(None).unwrap(), vec![0, 1]);
}

#[test]
fn from_platform_and_directives() {
    let df =
        parse("# syntax=docker/dockerfile:1.4\nARG P=linux/arm64\nFROM --platform=$P busybox\n");
    assert_eq!(
        df.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.4")
    );
    assert_eq!(df.stages[0].platform.as_deref(), Some("$P"));
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.platforms[0].as_deref(), Some("linux/arm64"));
}

#[test]
fn onbuild_trigger_line() {
    let ins = parse_instruction("COPY --from=x a b", '\\', "ONBUILD").unwrap();
    assert_eq!(ins.command.name(), "COPY");
    let e = parse_instruction("NOPE", '\\', "ONBUILD").unwrap_err();
    assert_eq!(
        e.to_string(),
        "dockerfile parse error line 1: unknown instruction: NOPE (ONBUILD:1: \"NOPE\")"
    );
}

#[test]
fn real_world_dockerfile() {
    let src = r#"# syntax=docker/dockerfile:1
# A typical multi-stage file.
ARG RUST_VERSION=1.85

FROM rust:${RUST_VERSION}-slim AS build
WORKDIR /src
# Cache deps first
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    # a comment inside the continuation
    && cargo build --release
COPY . .
RUN cargo build --release --bin app

FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="app" \
      org.opencontainers.image.version="1.0"
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/app /usr/local/bin/app
USER 65534:65534
EXPOSE 8080/tcp
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--port", "8080"]
"#;
    let df = parse(src);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.global_args.len(), 1);
    let run = &df.stages[0].instructions[2];
    assert_eq!(run.line, 9);
    assert_eq!(run.end_line, 12);
    match &run.command {
        Command::Run(r) => assert_eq!(
            r.cmd.args,
            s(&["mkdir src     && echo 'fn main() {}' > src/main.rs     && cargo build --release"])
        ),
        o => panic!("{o:?}"),
    }
    let g = df.graph(&BTreeMap::new()).unwrap();
    assert_eq!(g.bases[0], Base::Image("rust:1.85-slim".into()));
    assert_eq!(g.stages_needed(None).unwrap(), vec![0, 1]);
    assert_eq!(
        df.stages[1].instructions[0].command,
        Command::Label(vec![
            kv("org.opencontainers.image.title", "\"app\""),
            kv("org.opencontainers.image.version", "\"1.0\"")
        ])
    );
}

#[test]
fn onbuild_heredoc() {
    match one("ONBUILD RUN <<EOF\necho hi\nEOF") {
        Command::OnBuild(o) => {
            assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
            match o.trigger.map(|t| t.command) {
                Some(Command::Run(r)) => assert_eq!(r.heredocs[0].content, "echo hi\n"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_target_from_file() {
    let df = parse("FROM a AS one\nFROM b\n");
    assert_eq!(
        df.stages_needed(Some("two")).unwrap_err(),
        Error::UnknownTarget("two".into())
    );
    assert_eq!(df.stages_needed(Some("ONE")).unwrap(), vec![0]);
    assert_eq!(df.stages_needed(None).unwrap(), vec![1]);
    assert_eq!(
        df.target_index(Some("two")).unwrap_err().to_string(),
        "failed to reach build target two in Dockerfile"
    );
}

#[test]
fn env_from_base_image_and_run_args() {
    let df =
        parse("FROM x\nARG A=1\nENV PATH=$PATH:/opt/bin\nARG PATH=ignored\nLABEL p=$PATH a=$A\n");
    let args = df.build_args(&BTreeMap::new()).unwrap();
    let mut scope = StageScope::new(&df, &["PATH=/usr/bin", "HOME=/root"], &args);
    let out: Vec<Command> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.step(i).unwrap().command)
        .collect();
    assert_eq!(
        out[3],
        Command::Label(vec![kv("p", "/usr/bin:/opt/bin"), kv("a", "1")])
    );
    assert_eq!(scope.env(), s(&["PATH=/usr/bin:/opt/bin", "HOME=/root"]));
    // PATH is shadowed by ENV, so RUN only gets A from the args.
    assert_eq!(scope.run_args(), vec![("A".to_string(), "1".to_string())]);
}

#[test]
fn copy_heredoc_body_expansion() {
    let df =
        parse("FROM x\nENV N=world\nCOPY <<EOF <<'RAW' /d/\nhello \"$N\"\nEOF\nhello $N\nRAW\n");
    let (c, _) = expand_stage(&df, 0, &[]);
    match &c[1] {
        Command::Copy(cp) => {
            assert_eq!(cp.contents[0].data, "hello \"world\"\n");
            assert_eq!(cp.contents[1].data, "hello $N\n");
        }
        o => panic!("{o:?}"),
    }
}

//! Line-level parser tests.

use super::*;

#[test]
fn directives_table() {
    let cases: &[(&str, Option<char>, Option<&str>)] = &[
        ("# escape=`\nFROM x\n", Some('`'), None),
        ("# ESCAPE = ` \nFROM x\n", Some('`'), None),
        ("#escape=\\\nFROM x\n", Some('\\'), None),
        (
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n",
            Some('`'),
            Some("docker/dockerfile:1"),
        ),
        // Only before anything else: after a comment, an empty line or an instruction
        // it is a comment.
        ("# comment\n# escape=`\nFROM x\n", Some('\\'), None),
        ("\n# escape=`\nFROM x\n", Some('\\'), None),
        ("FROM x\n# escape=`\n", Some('\\'), None),
        ("# unknown=1\n# escape=`\nFROM x\n", Some('\\'), None),
    ];
    for (src, esc, syntax) in cases {
        let p = parse_lines(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
        assert_eq!(Some(p.directives.escape), *esc, "{src:?}");
        assert_eq!(p.directives.syntax.as_deref(), *syntax, "{src:?}");
    }
}

#[test]
fn directive_errors() {
    let e = parse_lines("# escape=`\n# escape=\\\nFROM x").unwrap_err();
    assert_eq!(e.0, 2);
    assert_eq!(e.2, "only one escape parser directive can be used");
    let e = parse_lines("# escape=x\nFROM x").unwrap_err();
    assert_eq!(e.2, "invalid escape token 'x' does not match ` or \\");
}

fn nodes(src: &str) -> Vec<Node> {
    parse_lines(src).unwrap().nodes
}

#[test]
fn continuations_and_comments() {
    let n = nodes("FROM x\nRUN a \\\n  b \\\n# inner comment\n\n   c\nRUN d\n");
    assert_eq!(n.len(), 3);
    assert_eq!(n[1].args, vec!["a   b    c"]);
    assert_eq!((n[1].start_line, n[1].end_line), (2, 6));
    assert_eq!(n[2].start_line, 7);
    let p = parse_lines("FROM x\nRUN a \\\n\nb\n").unwrap();
    assert_eq!(p.nodes[1].args, vec!["a b"]);
    assert_eq!(p.warnings.len(), 2);
    // Backtick escape: backslash is literal, backtick continues.
    let n = nodes("# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n");
    assert_eq!(n[1].args, vec!["dir c:\\   /b"]);
    // An escaped escape at the end is not a continuation.
    let n = nodes("FROM x\nRUN echo \\\\\nRUN y\n");
    assert_eq!(n.len(), 3);
    // Comments after instructions are not comments.
    let n = nodes("FROM x\nRUN echo # not a comment\n  # a comment\n");
    assert_eq!(n[1].args, vec!["echo # not a comment"]);
    // CRLF line endings
    let n = nodes("FROM x\r\nRUN a \\\r\n b\r\n");
    assert_eq!(n[1].args, vec!["a  b"]);
}

#[test]
fn json_and_shell_forms() {
    let n = nodes("FROM x\nCMD [\"a\", \"b c\"]\nCMD [\"a\", \nCMD [\"a\"] x\nCMD [ ]\nRUN 'a'\n");
    assert!(n[1].json);
    assert_eq!(n[1].args, vec!["a", "b c"]);
    assert!(!n[2].json);
    assert_eq!(n[2].args, vec!["[\"a\","]);
    assert!(!n[3].json);
    assert!(n[4].json && n[4].args.is_empty());
    let e = parse_lines("FROM x\nCMD [\"a\", 1]\n").unwrap_err();
    assert_eq!(e.0, 2);
    assert_eq!(e.2, NOT_STRING_ARRAY);
    let n = nodes("FROM x\nCOPY a  b\tc\nVOLUME [\"/a\", \"/b\"]\n");
    assert_eq!(n[1].args, vec!["a", "b", "c"]);
    assert!(n[2].json);
}

#[test]
fn flags() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "--from=a --chown=1:1 src dst",
            &["--from=a", "--chown=1:1"],
            "src dst",
        ),
        ("--from=\"a b\" x", &["--from=a b"], "x"),
        ("-- --x y", &[], " --x y"),
        ("--flag", &["--flag"], ""),
        ("-x y", &[], "-x y"),
        ("--a\\=b c", &["--a=b"], "c"),
    ];
    for (line, flags, rest) in cases {
        let (r, f) = extract_builder_flags(line);
        assert_eq!(r.as_str(), *rest, "{line}");
        assert_eq!(f, *flags, "{line}");
    }
}

#[test]
fn words_keep_quotes() {
    assert_eq!(
        parse_words("a=\"b c\" d='e f' g\\ h", '\\'),
        vec!["a=\"b c\"", "d='e f'", "g\\ h"]
    );
    assert_eq!(parse_words("a=\"\"", '\\'), vec!["a=\"\""]);
}

#[test]
fn heredocs() {
    let src = "FROM x\nRUN <<EOF\necho hi\nEOF\nRUN <<-EOT cat\n\techo tab\n\tEOT\nCOPY <<one <<'two' /dest/\n1 $X\none\n2 $X\ntwo\nRUN [\"<<EOF\"]\nRUN echo <<EOF\nx\nEOF\n";
    let n = nodes(src);
    assert_eq!(n.len(), 6);
    assert_eq!(n[1].heredocs[0].name, "EOF");
    assert_eq!(n[1].heredocs[0].content, "echo hi\n");
    assert!(n[1].heredocs[0].expand);
    assert_eq!((n[1].start_line, n[1].end_line), (2, 4));
    assert!(n[2].heredocs[0].chomp);
    assert_eq!(n[2].heredocs[0].content, "\techo tab\n");
    assert_eq!(n[2].heredocs[0].text(), "echo tab\n");
    assert_eq!(n[3].heredocs.len(), 2);
    assert_eq!(n[3].heredocs[0].content, "1 $X\n");
    assert!(n[3].heredocs[0].expand);
    assert_eq!(n[3].heredocs[1].name, "two");
    assert!(!n[3].heredocs[1].expand);
    assert!(n[4].heredocs.is_empty());
    assert_eq!(n[5].heredocs.len(), 1);
    let e = parse_lines("FROM x\nRUN <<EOF\nno end\n").unwrap_err();
    assert_eq!((e.0, e.2.as_str()), (2, "unterminated heredoc"));
    // Not on other instructions.
    let n = nodes("FROM x\nENV a=<<EOF\nRUN x\n");
    assert_eq!(n.len(), 3);
}

#[test]
fn empty_files() {
    for src in ["", "\n\n", "# just a comment\n", "\u{feff}"] {
        let e = parse_lines(src).unwrap_err();
        assert_eq!(e.2, "file with no instructions");
    }
    let n = nodes("\u{feff}FROM x");
    assert_eq!(n[0].cmd, "from");
}

#[test]
fn long_line() {
    let src = format!("FROM x\nRUN {}\n", "a".repeat(70_000));
    let e = parse_lines(&src).unwrap_err();
    assert_eq!(e.0, 2);
    assert!(e
        .2
        .starts_with("dockerfile line greater than max allowed size"));
}

#[test]
fn empty_continuation_warnings_as_buildkit() {
    let src = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let p = parse_lines(src).unwrap();
    assert_eq!(p.nodes.len(), 6);
    assert_eq!(p.warnings.len(), 3);
    assert!(p.warnings[0].contains("Empty continuation line found in"));
    assert!(p.warnings[0].contains("RUN something     following     more"));
    assert!(p.warnings[1].contains("RUN another     thing"));
    assert!(p.warnings[2].contains("will become errors in a future release"));
    assert_eq!(p.nodes[4].args, vec!["non-indented    after-comment"]);
    assert_eq!((p.nodes[2].start_line, p.nodes[2].end_line), (7, 11));
}

#[test]
fn scanner_limit_as_buildkit() {
    let src = format!("\n\t\tFROM image\n\t\tLABEL test={}\n", "a".repeat(65536));
    let e = parse_lines(&src).unwrap_err();
    assert_eq!(
        e.2,
        "dockerfile line greater than max allowed size of 65535"
    );
    // Just under the limit is fine.
    let src = format!("FROM image\nLABEL t={}\n", "a".repeat(65535 - 8));
    assert!(parse_lines(&src).is_ok());
}

#[test]
fn parse_words_as_buildkit() {
    let cases: &[(&str, &[&str])] = &[
        ("foo", &["foo"]),
        ("foo bar", &["foo", "bar"]),
        ("foo\\ bar", &["foo\\ bar"]),
        ("foo=bar", &["foo=bar"]),
        ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
        ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
        ("àöû", &["àöû"]),
        ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
    ];
    for (input, want) in cases {
        assert_eq!(parse_words(input, '\\'), *want, "{input}");
    }
}

use super::*;
use std::process::Command;

fn os(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

fn text(words: &[&str], args: &[&str]) -> String {
    let template = Template::parse(&os(words), args.len().max(1), false).unwrap();
    template
        .render(&os(args), 7, 2)
        .text
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_replacement_string() {
    let v = ["dir/sub.d/file.tar.gz"];
    assert_eq!(text(&["echo", "{}"], &v), "echo dir/sub.d/file.tar.gz");
    assert_eq!(text(&["echo", "{.}"], &v), "echo dir/sub.d/file.tar");
    assert_eq!(text(&["echo", "{/}"], &v), "echo file.tar.gz");
    assert_eq!(text(&["echo", "{//}"], &v), "echo dir/sub.d");
    assert_eq!(text(&["echo", "{/.}"], &v), "echo file.tar");
    assert_eq!(text(&["echo", "{#}", "{%}"], &v), "echo 7 2");
    assert_eq!(
        text(&["echo", "{1}", "{1.}", "{1/}"], &v),
        "echo dir/sub.d/file.tar.gz dir/sub.d/file.tar file.tar.gz"
    );
    assert_eq!(text(&["echo", "{//}"], &["a"]), "echo .");
    assert_eq!(text(&["echo", "{//}"], &["/a"]), "echo /");
    assert_eq!(text(&["echo", "{.}"], &[".bashrc"]), "echo .bashrc");
    assert_eq!(text(&["echo", "{.}"], &["a.b/c"]), "echo a.b/c");
    assert_eq!(text(&["echo", "{.}"], &["dir/.bashrc"]), "echo dir/.bashrc");
    assert_eq!(text(&["echo", "{/}", "{//}"], &["a/b/"]), "echo '' a/b");
    assert_eq!(text(&["echo", "{/.}"], &["x.tar.gz"]), "echo x.tar");
    assert_eq!(
        text(&["echo", "{2//}", "{2/.}"], &["a", "d/e.f"]),
        "echo d e"
    );
}

#[test]
fn positions_and_several_sources() {
    assert_eq!(text(&["cp", "{2}", "{1}"], &["a", "b"]), "cp b a");
    assert_eq!(text(&["echo", "{}"], &["a", "b c"]), "echo a 'b c'");
    assert_eq!(text(&["echo"], &["a", "b c"]), "echo a 'b c'");
    assert_eq!(text(&["x{}y"], &["1"]), "x1y");
}

#[test]
fn values_are_appended_without_replacement_strings() {
    assert_eq!(text(&["echo", "hi"], &["a b"]), "echo hi 'a b'");
    assert_eq!(
        text(&["echo", "{#}"], &["a"]),
        "echo 7",
        "{{#}} counts as one"
    );
}

#[test]
fn other_braces_are_literal() {
    assert_eq!(text(&["echo", "{abc}", "{}"], &["x"]), "echo {abc} x");
    assert_eq!(text(&["echo", "{", "}"], &["x"]), "echo { } x");
    assert_eq!(text(&["echo", "{}}"], &["x"]), "echo x}");
}

#[test]
fn bad_positions_are_errors() {
    let err = Template::parse(&os(&["echo", "{3}"]), 2, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "{3} in the command, but there are only 2 input sources (::: or ::::)"
    );
    assert!(Template::parse(&os(&["echo", "{0}"]), 1, false).is_err());
    // The replacement string is shown escaped: a message stays one clean line.
    let err = Template::parse(&os(&["echo", "a{0\t}"]), 1, false).unwrap_err();
    assert!(
        err.to_string().starts_with("{0\\t} in the command"),
        "{err}"
    );
    assert!(Template::parse(&[], 1, false)
        .unwrap_err()
        .to_string()
        .contains("command is needed"));
}

#[test]
fn hostile_values_are_quoted() {
    assert_eq!(
        text(&["echo", "{}"], &["$(touch pwned); rm -rf x"]),
        "echo '$(touch pwned); rm -rf x'"
    );
    assert_eq!(text(&["echo", "{}"], &[""]), "echo ''");
}

#[test]
fn direct_only_when_the_shell_would_just_split() {
    let direct = |words: &[&str], sources| {
        Template::parse(&os(words), sources, false)
            .unwrap()
            .is_direct()
    };
    assert!(direct(&["echo", "{}"], 1));
    assert!(direct(&["true"], 1));
    assert!(direct(&["/bin/echo", "x{}.out"], 1));
    assert!(!direct(&["echo {}"], 1), "a space in a word");
    assert!(!direct(&["echo", "{}", "|", "wc"], 1));
    assert!(!direct(&["echo", "$HOME"], 1));
    assert!(!direct(&["cd", "{}"], 1));
    assert!(!direct(&["{}"], 1), "the program comes from the input");
    assert!(!direct(&["no-such-program-here", "{}"], 1));
    assert!(!direct(&["echo", "{}"], 2), "{{}} with several sources");
    assert!(direct(&["echo", "{1}", "{2}"], 2));
    assert!(!direct(&["echo", ""], 1));
    assert!(direct(&["echo", "if={}", "of=x"], 1), "= in an argument");
    assert!(!direct(&["A=1", "{}"], 1), "an assignment, not a program");
    assert!(!direct(&["time", "true"], 1), "a keyword in bash and ksh");
}

/// A value put inside the template's own quotes, `'{}'` or `"{}"`, still arrives as data.
#[test]
fn values_inside_the_templates_quotes_stay_data() {
    let hostile = "it's \"$(echo pwned)\" `id` \\ $HOME";
    for template in [
        "printf '[%s]' '{}'",
        "printf '[%s]' \"{}\"",
        "printf '[%s]' \"a'{}\"",
    ] {
        let parsed = Template::parse(&os(&[template]), 1, false).unwrap();
        let rendered = parsed.render(&os(&[hostile]), 1, 1);
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&rendered.text)
            .output()
            .unwrap();
        let expected = if template.contains("a'") {
            format!("[a'{hostile}]")
        } else {
            format!("[{hostile}]")
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{template}: {:?}",
            rendered.text
        );
    }
}

/// A command substitution inside double quotes (`"$(…)"`, `` "`…`" ``) starts a new
/// command, and a word's trailing backslash escapes the space that joins the next word, not
/// that word's first character. Escaped for the quoting around the substitution or for the
/// next word's first character, values there would run as code.
#[test]
fn values_in_substitutions_and_after_a_trailing_backslash_stay_data() {
    let hostile = "x; touch pwned `touch pwned` $(touch pwned) ' \" \\ (";
    let cases: &[(&[&str], String)] = &[
        (
            &["printf", "[%s]", "\"$(printf %s {})\""],
            format!("[{hostile}]"),
        ),
        (
            &["printf", "[%s]", "\"`printf %s {}`\""],
            format!("[{hostile}]"),
        ),
        (
            &["printf", "[%s]", "\"$(printf %s \"{}\")\""],
            format!("[{hostile}]"),
        ),
        (
            &["printf", "[%s]", "\"$(printf %s '{}')\""],
            format!("[{hostile}]"),
        ),
        (&["printf", "[%s]", "a\\", "'{}'"], format!("[a {hostile}]")),
    ];
    for (words, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let template = Template::parse(&os(words), 1, false).unwrap();
        let rendered = template.render(&os(&[hostile]), 1, 1);
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&rendered.text)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            *expected,
            "{words:?}: {:?}",
            rendered.text
        );
        assert!(!dir.path().join("pwned").exists(), "{:?}", rendered.text);
    }
}

#[test]
fn an_escaped_brace_is_not_a_replacement_string() {
    assert_eq!(text(&["echo", "\\{}"], &["a"]), "echo \\{} a");
}

#[test]
fn quoted_words_stay_single_arguments() {
    let words = os(&["sh", "-c", "echo $0; exit 1", "{}"]);
    let template = Template::parse(&words, 1, true).unwrap();
    let rendered = template.render(&os(&["a b"]), 1, 1);
    assert_eq!(rendered.text, "sh -c 'echo $0; exit 1' 'a b'");
    assert_eq!(
        rendered.direct.unwrap(),
        os(&["sh", "-c", "echo $0; exit 1", "a b"])
    );
}

/// The argv a job gets through `sh -c`, against the direct argv, for the same values.
#[test]
fn direct_argv_is_what_the_shell_gives() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["printf", "%s@", "{}"], &["a b"]),
        (&["printf", "%s@", "x{}y", "{.}"], &["it's $(x).txt"]),
        (&["printf", "%s@"], &["", "*", "a\nb"]),
        (&["printf", "%s@", "{2}", "{1/}", "{#}"], &["/d/f", "~"]),
    ];
    for (words, values) in cases {
        let words = os(words);
        let template = Template::parse(&words, values.len(), false).unwrap();
        assert!(template.is_direct(), "{words:?}");
        let rendered = template.render(&os(values), 3, 1);
        let (direct, shell) = run_both_ways(&rendered);
        assert_eq!(direct, shell, "{:?}", rendered.text);
    }
}

/// What a rendered job prints run directly from its argv, and through `sh -c` from its text.
fn run_both_ways(rendered: &Rendered) -> (Vec<u8>, Vec<u8>) {
    let argv = rendered.direct.as_ref().expect("a direct command");
    let direct = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    let shell = Command::new("/bin/sh")
        .arg("-c")
        .arg(&rendered.text)
        .output()
        .unwrap();
    (direct.stdout, shell.stdout)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Whatever the values hold, the direct argv is the one `sh -c` gives the program.
    #[test]
    fn direct_argv_matches_sh_for_any_values(
        values in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    1u8..=255,
                    proptest::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~=./ \t\n".to_vec()),
                ],
                0..12,
            ),
            2,
        ),
    ) {
        let values: Vec<OsString> = values.into_iter().map(OsString::from_vec).collect();
        // A script read by sh (not exec'd, so no ETXTBSY race with other tests' spawns)
        // prints its arguments NUL-terminated, with only safe characters in the template.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("show");
        std::fs::write(&script, "printf '%s\\0' \"$@\"\n").unwrap();
        let mut words = vec![OsString::from("sh"), script.into_os_string()];
        words.extend(os(&["{1}", "x={2.}", "{1//}/{2/}", "{#}"]));
        let template = Template::parse(&words, 2, false).unwrap();
        proptest::prop_assert!(template.is_direct());
        let rendered = template.render(&values, 42, 3);
        let (direct, shell) = run_both_ways(&rendered);
        proptest::prop_assert_eq!(direct, shell);
    }
}

fn refusal(words: &[&str]) -> String {
    Template::parse(&os(words), 1, false)
        .unwrap_err()
        .to_string()
}

/// `$'…'` is tracked as a quoting of its own, with its own escapes.
#[test]
fn values_in_ansi_c_quotes_are_escaped_for_them() {
    assert_eq!(
        text(&["printf", "$'[{}]\\n'"], &["it's a\\b"]),
        "printf $'[it\\047s a\\\\b]\\n'"
    );
    // `\\'` ends the quotes for every shell: the next value is bare again.
    assert_eq!(
        text(&["echo", "$'a\\\\'", "{}"], &["x y"]),
        "echo $'a\\\\' 'x y'"
    );
}

/// A comment is not code: a replacement string there stays as written, and quotes there open
/// nothing.
#[test]
fn comments_are_left_alone() {
    assert_eq!(
        text(&["# don't {} {#}\necho", "{}"], &["a b"]),
        "# don't {} {#}\necho 'a b'"
    );
    assert_eq!(text(&["echo a#b", "{}"], &["x y"]), "echo a#b 'x y'");
    assert_eq!(text(&["echo $#", "{}"], &["x y"]), "echo $# 'x y'");
    assert_eq!(text(&["echo \\#", "{}"], &["x y"]), "echo \\# 'x y'");
    // A backslash and a newline vanish: the `#` starts a word, and a comment.
    assert_eq!(text(&["echo \\\n#", "{}"], &["x"]), "echo \\\n# {}");
}

/// In arithmetic the reading is sure of, a value that is a plain number is pasted as it is,
/// as GNU parallel writes it; any other value there, or a number elsewhere that needs a
/// variable, still goes through one.
#[test]
fn plain_numbers_are_pasted_in_arithmetic() {
    assert_eq!(
        text(&["echo {}; exit $(( {} % 3 ))"], &["7"]),
        "echo 7; exit $(( 7 % 3 ))"
    );
    assert_eq!(text(&["echo $(( {} - 1 ))"], &["-7"]), "echo $(( -7 - 1 ))");
    assert_eq!(
        text(&["echo $(( {} - 1 ))"], &["7 ; touch x"]),
        "brake_v1='7 ; touch x'; echo $(( ${brake_v1} - 1 ))"
    );
    for not_a_number in ["", "-", "1e3", "0x1f", "1.5", "a[$(touch x)]"] {
        let line = text(&["echo $(( {} ))"], &[not_a_number]);
        assert!(line.starts_with("brake_v1="), "{not_a_number:?}: {line}");
    }
    // Used in arithmetic elsewhere too: the variable stays for the other places.
    assert_eq!(
        text(&["echo $(( {} ))", "\"${x:-{}}\""], &["3"]),
        "brake_v1=3; echo $(( 3 )) \"${x:-${brake_v1}}\""
    );
    // A here-document's body is no place the reading trusts for arithmetic.
    assert_eq!(
        text(&["cat <<EOF\n$(( {} ))\nEOF"], &["3"]),
        "brake_v1=3; cat <<EOF\n$(( ${brake_v1} ))\nEOF"
    );
}

/// Where pasting cannot be safe, or the reading is lost, the line sets a variable first.
#[test]
fn uncertain_places_get_a_variable() {
    assert_eq!(
        text(&["cat <<EOF\n{} {.}\nEOF"], &["a.txt"]),
        "brake_v1=a.txt; brake_v2=a; cat <<EOF\n${brake_v1} ${brake_v2}\nEOF"
    );
    assert_eq!(
        text(&["printf $'it\\'s %s\\n'", "{}"], &["x; y"]),
        "brake_v1='x; y'; printf $'it\\'s %s\\n' \"${brake_v1}\""
    );
    assert_eq!(
        text(&["echo", "$(( {} + 1 ))", "{}"], &["2x"]),
        "brake_v1=2x; echo $(( ${brake_v1} + 1 )) 2x"
    );
    assert_eq!(
        text(&["echo $(( '{}' )) {}"], &["x"]),
        "brake_v1=x; echo $(( '${brake_v1}' )) \"${brake_v1}\""
    );
    assert_eq!(
        text(&["echo", "\"${x:-{}}\""], &["a b"]),
        "brake_v1='a b'; echo \"${x:-${brake_v1}}\""
    );
    let template =
        Template::parse(&os(&["echo \"$(case {} in a) echo;; esac)\""]), 2, false).unwrap();
    let rendered = template.render(&os(&["a", "b c"]), 1, 1);
    assert_eq!(
        rendered.text,
        "brake_v1=a; brake_v2='b c'; echo \"$(case \"${brake_v1}\" \"${brake_v2}\" in a) echo;; esac)\""
    );
    assert!(rendered.direct.is_none());
    // Appended values too.
    assert_eq!(
        text(&["cat <<EOF\nx"], &["a"]),
        "brake_v1=a; cat <<EOF\nx ${brake_v1}"
    );
}

/// A here-document's body ends at its delimiter line (tabs stripped for `<<-`, a line
/// continuation joined first), and quoting picks up after it.
#[test]
fn here_documents_end_at_their_delimiter() {
    assert_eq!(
        text(&["cat <<-'E F' && echo {}\n\tx\n\tE F\necho {}"], &["a b"]),
        "cat <<-'E F' && echo 'a b'\n\tx\n\tE F\necho 'a b'"
    );
    assert!(text(&["cat <<EOF\nx\\\nEOF\n{}\nEOF"], &["a"]).contains("${brake_v1}"));
    assert_eq!(text(&["cat <<<", "{}"], &["a b"]), "cat <<< 'a b'");
}

/// What no quoting can hold is refused, with a one-line reason.
#[test]
fn templates_no_quoting_can_hold_are_refused() {
    assert!(refusal(&["echo", "${}"]).contains("right after a `$`"));
    assert!(refusal(&["echo", "\"${1}\""]).contains("{1} right after a `$`"));
    assert!(refusal(&["cat <<'EOF'\n{}\nEOF"]).contains("quoted delimiter"));
    assert!(refusal(&["cat <<{}"]).contains("delimiter"));
    assert!(refusal(&["cat <<EOF\n${}\nEOF"]).contains("right after a `$`"));
    assert!(refusal(&["echo", "hi", "#", "note"]).contains("comment"));
    assert!(refusal(&["echo", "'a"]).contains("not closed"));
    assert!(refusal(&["echo", "\"$(x"]).contains("not closed"));
    // Digits after a `$` are a positional parameter: odd, but never code.
    assert_eq!(text(&["echo", "${#}"], &["a"]), "echo $7");
}

fn text_with(table: &Replacements, words: &[&str], args: &[&str], seq: u64) -> String {
    let mut template = Template::parse_with(&os(words), args.len(), false, table).unwrap();
    template.set_run(Some(120), 4);
    template
        .render(&os(args), seq, 3)
        .text
        .to_string_lossy()
        .into_owned()
}

#[test]
fn plus_strings_match_gnu_parallels_patterns() {
    let plus = Replacements::new(true);
    let v = ["d.x/s/f.a.b.c"];
    let one = |word: &str, value: &str| text_with(&plus, &["echo", word], &[value], 7);
    assert_eq!(one("{..}", v[0]), "echo d.x/s/f.a");
    assert_eq!(one("{...}", v[0]), "echo d.x/s/f");
    assert_eq!(one("{/..}", v[0]), "echo f.a");
    assert_eq!(one("{/...}", v[0]), "echo f");
    assert_eq!(one("{+/}", v[0]), "echo d.x/s");
    assert_eq!(one("{+.}", v[0]), "echo c");
    assert_eq!(one("{+..}", v[0]), "echo b.c");
    assert_eq!(one("{+...}", v[0]), "echo a.b.c");
    // Fewer extensions than asked for: nothing taken off, nothing to show.
    assert_eq!(one("{..}", "d.x/f.c"), "echo d.x/f.c");
    assert_eq!(one("{+..}", "d.x/f.c"), "echo ''");
    assert_eq!(one("{+.}", "a.b/c"), "echo b/c");
    assert_eq!(one("{+/}", "f"), "echo ''");
    assert_eq!(one("{##}", "x"), "echo 120");
    assert_eq!(one("{0#}", "x"), "echo 007");
    assert_eq!(one("{0%}", "x"), "echo 3");
    assert_eq!(
        text_with(
            &plus,
            &["echo", "{2..}", "{-1/}", "{-2+/}"],
            &["a/b.c", "x.y.z"],
            1
        ),
        "echo x x.y.z a"
    );
}

#[test]
fn gnu_pads_to_its_own_width() {
    assert_eq!(width(9), 1);
    assert_eq!(width(10), 2);
    assert_eq!(width(999), 3);
    // GNU parallel's log(1000)/log(10) is just under 3.
    assert_eq!(width(1000), 3);
    assert_eq!(width(0), 1);
}

#[test]
fn renamed_strings_leave_the_old_ones_as_text() {
    let mut table = Replacements::default();
    table.rename("{}", ",,");
    table.rename("{/}", "BASE");
    assert_eq!(
        text_with(&table, &["echo", ",,", "BASE", "{}", "{1}"], &["a/b"], 1),
        "echo a/b b {} {1}"
    );
}

#[test]
fn negative_positions_count_from_the_last_source() {
    let table = Replacements::default();
    assert_eq!(
        text_with(
            &table,
            &["echo", "{-1}", "{-2.}", "{-3/}"],
            &["a/b.c", "d", "e"],
            1
        ),
        "echo e d b.c"
    );
    let err = Template::parse(&os(&["echo", "{-3}"]), 2, false).unwrap_err();
    assert!(err.to_string().contains("only 2 input sources"), "{err}");
}

#[test]
fn quoted_words_keep_several_sources_apart() {
    let template = Template::parse(&os(&["printf", "%s", "x{}y"]), 2, true).unwrap();
    assert_eq!(
        template.render(&os(&["a b", "c"]), 1, 1).text,
        OsString::from("printf %s 'xa b' cy")
    );
    assert!(!template.is_direct());
}

fn perl_template(words: &[&str], sources: usize) -> Result<Template, TemplateError> {
    Template::parse_with(&os(words), sources, false, &Replacements::new(true))
}

#[test]
fn perl_values_are_quoted_like_any_value() {
    let template = perl_template(&["echo", "{= $_ = uc =}", "{=2 $_ .= seq() =}"], 2).unwrap();
    let rendered = template.render_job(&os(&["a b", "$(x)"]), 4, 1).unwrap();
    assert_eq!(rendered.text, OsString::from("echo 'A B' '$(X)' '$(x)4'"));
}

#[test]
fn one_expression_is_evaluated_once_per_job_and_source() {
    let template = perl_template(&["echo", "{= $_ = ++$n =}", "{= $_ = ++$n =}"], 1).unwrap();
    assert_eq!(
        template.render_job(&os(&["x"]), 1, 1).unwrap().text,
        OsString::from("echo 1 1")
    );
    assert_eq!(
        template.render_job(&os(&["x"]), 2, 1).unwrap().text,
        OsString::from("echo 2 2")
    );
}

#[test]
fn skip_and_arg_are_gnu_parallels() {
    let template = perl_template(&["echo", "{= skip() if $arg[1] eq $arg[2] =}"], 2).unwrap();
    assert_eq!(
        template.render_job(&os(&["a", "a"]), 1, 1),
        Err(Unrendered::Skipped)
    );
    assert!(template.render_job(&os(&["a", "b"]), 2, 1).is_ok());
    // Shown as it would have run.
    assert_eq!(
        template.render(&os(&["a", "a"]), 1, 1).text,
        OsString::from("echo a a")
    );
}

#[test]
fn perl_that_cannot_be_used_is_refused_in_one_line() {
    let err = perl_template(&["echo", "{= s/a/b/ (( =}"], 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot use the Perl expression"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");
    let err = perl_template(&["echo", "{= uq() =}"], 1).unwrap_err();
    assert!(err.to_string().contains("calls uq()"), "{err}");
    let err = perl_template(&["echo", "{host}"], 1).unwrap_err();
    assert!(err.to_string().contains("remote host"), "{err}");
}

#[test]
fn an_expression_may_span_words() {
    let template = perl_template(&["echo", "{=", "$_", "=", "total_jobs()", "=}"], 1).unwrap();
    let mut template = template;
    template.set_run(Some(9), 1);
    assert_eq!(
        template.render_job(&os(&["x"]), 1, 1).unwrap().text,
        OsString::from("echo 9")
    );
}

#[test]
fn only_counting_templates_wait_for_every_input() {
    let counts = |words: &[&str]| perl_template(words, 1).unwrap().needs_total();
    assert!(counts(&["echo", "{##}"]));
    assert!(counts(&["echo", "{0#}"]));
    assert!(counts(&["echo", "{= $_ = total_jobs() =}"]));
    assert!(!counts(&["echo", "{0%}", "{= $_ .= 1 =}", "{#}"]));
}

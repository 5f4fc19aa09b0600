//! No input value is ever run as shell code, whatever shell syntax the template wraps around
//! its replacement strings: comments, here-documents, `$'…'`, `case`, nested `$(…)` and
//! backquotes, single and double quotes. Each rendering (`brake --dry-run`) is run through both
//! `dash -c` and `bash -c`, and the template through `brake` itself, in a scratch directory,
//! with values that create a canary file if any shell ever runs them.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use brake_testkit::torture::{fuzz_cases, Tally};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The file a value creates if a shell runs it.
const CANARY: &str = "CANARY";

/// `brake WORDS` in `dir`, killed should it still run after `support::RUN_LIMIT`: a template
/// that makes brake loop fails the property instead of stalling the test.
fn brake_in(dir: &Path, words: &[&[u8]]) -> Output {
    support::run_in(dir, words.iter().map(|w| OsStr::from_bytes(w)))
}

/// `shell -c line` in `dir`.
fn shell_in(dir: &Path, shell: &str, line: &[u8]) -> Output {
    Command::new(shell)
        .arg("-c")
        .arg(OsStr::from_bytes(line))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("run {shell} (is it installed?): {err}"))
}

/// The one command line `brake --dry-run` renders for `template` and the one `value`.
fn rendered(dir: &Path, template: &[u8], value: &[u8]) -> Vec<u8> {
    let out = brake_in(dir, &[b"--dry-run", template, b":::", value]);
    assert!(
        out.status.success(),
        "{:?}: {}",
        String::from_utf8_lossy(template),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut line = out.stdout;
    assert_eq!(line.pop(), Some(b'\n'));
    line
}

/// Runs `template` with `value` through brake, and its rendering through dash and bash: none
/// may create the canary. Returns what each printed (brake, dash, bash).
fn run_everywhere(template: &[u8], value: &[u8]) -> [Vec<u8>; 3] {
    let dir = tempfile::tempdir().unwrap();
    let line = rendered(dir.path(), template, value);
    let through_brake = brake_in(dir.path(), &[template, b":::", value]).stdout;
    let dash = shell_in(dir.path(), "dash", &line).stdout;
    let bash = shell_in(dir.path(), "bash", &line).stdout;
    assert!(
        !dir.path().join(CANARY).exists(),
        "a value ran: {:?} rendered {:?}",
        String::from_utf8_lossy(template),
        String::from_utf8_lossy(&line)
    );
    [through_brake, dash, bash]
}

/// A comment's apostrophe is not a quote: the values after it stay quoted.
#[test]
fn an_apostrophe_in_a_comment_opens_no_quote() {
    let value = b"$(touch CANARY)";
    for out in run_everywhere(b"# don't\necho {}", value) {
        assert_eq!(out, b"$(touch CANARY)\n");
    }
    for out in run_everywhere(b"# a \"quote\" and an odd one: \"\necho {}", value) {
        assert_eq!(out, b"$(touch CANARY)\n");
    }
    let template = b"# skip files that don't exist\ntest -e {} || exit 0\nwc -l {}";
    for out in run_everywhere(template, b"$(touch CANARY).txt") {
        assert_eq!(out, b"");
    }
}

/// A replacement string inside a comment is left as written: nothing to quote, and a value's
/// newline could end the comment.
#[test]
fn a_replacement_string_in_a_comment_stays_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let line = rendered(
        dir.path(),
        b"echo a # {} {1} {#}\necho {}",
        b"x\ntouch CANARY",
    );
    assert_eq!(line, b"echo a # {} {1} {#}\necho 'x\ntouch CANARY'");
    for out in run_everywhere(b"echo a # {}\necho {}", b"x\ntouch CANARY #") {
        assert_eq!(out, b"a\nx\ntouch CANARY #\n");
    }
}

/// `$'…'` is a quoting of its own: its `\'` does not end it (bash), and a value inside it is
/// escaped for it.
#[test]
fn ansi_c_quotes_keep_values_data() {
    let template = b"printf $'it\\'s %s\\n' {}";
    let [_, _, bash] = run_everywhere(template, b"x; touch CANARY");
    assert_eq!(bash, b"it's x; touch CANARY\n");
    let template = b"printf '[%s]\\n' $'a{}b'";
    for value in [&b"x'; touch CANARY; '"[..], b"\\'$(touch CANARY)", b"'\n\\"] {
        let [_, dash, bash] = run_everywhere(template, value);
        let mut expected = b"[a".to_vec();
        expected.extend_from_slice(value);
        expected.extend_from_slice(b"b]\n");
        assert_eq!(bash, expected);
        // dash reads `$'…'` as `$` and single quotes: the escapes stay as written.
        assert!(
            dash.starts_with(b"[$a"),
            "{:?}",
            String::from_utf8_lossy(&dash)
        );
    }
}

/// A here-document's body and a `case` inside `"$(…)"` hold values as data, even a value with
/// the delimiter line in it.
#[test]
fn here_documents_and_case_patterns_keep_values_data() {
    for value in [
        &b"$(touch CANARY)"[..],
        b"a\nEOF\ntouch CANARY",
        b"`touch CANARY`\\",
    ] {
        for template in [&b"cat <<EOF\n{}\nEOF"[..], b"cat <<-EOF\n\t[{}]\n\tEOF"] {
            for out in run_everywhere(template, value) {
                let mut expected = value.to_vec();
                if template.contains(&b'[') {
                    expected.insert(0, b'[');
                    expected.push(b']');
                }
                expected.push(b'\n');
                assert_eq!(out, expected, "{:?}", String::from_utf8_lossy(template));
            }
        }
    }
    // bash ends a body inside `$(…)` at `EOF)`, dash refuses it: what follows is no body.
    let template = b"x=$(cat <<EOF\nbody\nEOF)\necho \"[$x]\" 'open\nEOF\necho {}";
    run_everywhere(template, b"$(touch CANARY)");
    // dash parses a substitution in an unquoted body as code, here-documents and all, so it
    // can end the body lines after bash does: a value appended there stays data for both.
    let template = b"cat <<EOF \nEOF && cat <<EOF $( cat <<EOF \nEOF\n)\\'\nEOF";
    run_everywhere(template, b"\nEOF\ntouch CANARY\n");
    let template = b"echo \"$(case {} in a) echo yes;; *) echo no;; esac)\" {}";
    for out in run_everywhere(template, b"a") {
        assert_eq!(out, b"yes a\n");
    }
    for out in run_everywhere(template, b") touch CANARY;; esac; echo \"") {
        assert_eq!(out, b"no ) touch CANARY;; esac; echo \"\n");
    }
}

/// In arithmetic a `'` is no quote: a value there is expanded from a variable, never pasted.
#[test]
fn values_in_arithmetic_are_expanded_not_pasted() {
    let template = b"echo $(( {} + 1 )) {}";
    for out in run_everywhere(template, b"41") {
        assert_eq!(out, b"42 41\n");
    }
    run_everywhere(template, b"$(touch CANARY)");
    run_everywhere(b"echo $(( ({}) ))", b"1 ) + $(touch CANARY) + ( 1");
}

/// Right after a backslash inside backquotes, the backslash belongs to one reading or the
/// other; either way the value stays data (the fuzz found `\\{}` in "`…`" pasting it bare).
#[test]
fn a_value_after_a_backslash_in_backquotes_stays_data() {
    run_everywhere(
        b"echo \"`printf '%s|' \\\"\"\\\\{}\"`\" # \n",
        b"\"$(touch CANARY)",
    );
    run_everywhere(b"echo `printf '%s|' \\{}`", b"$(touch CANARY)");
    run_everywhere(b"echo \"`printf '%s|' \\{}`\"", b"`touch CANARY`");
}

/// What no quoting can hold is refused before anything runs: exit 255, one line.
#[test]
fn templates_no_quoting_can_hold_are_refused() {
    for template in [
        &b"echo ${}"[..],
        b"echo \"${1}\"",
        b"cat <<'EOF'\n{}\nEOF",
        b"cat <<\\EOF\n{}\nEOF",
        b"cat <<{}\nx\n",
        b"echo hi # a comment",
        b"echo 'unclosed",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = brake_in(dir.path(), &[template, b":::", b"touch CANARY"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(255),
            "{:?}: {stderr}",
            String::from_utf8_lossy(template)
        );
        assert!(out.stdout.is_empty());
        assert!(stderr.starts_with("brake: ") && stderr.lines().count() == 1);
        assert!(!dir.path().join(CANARY).exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Random templates

/// A replacement string.
fn replacement() -> BoxedStrategy<String> {
    prop::sample::select(
        &[
            "{}",
            "{.}",
            "{/}",
            "{1}",
            "{1//}",
            "{#}",
            "{%}",
            "{-1}",
            "{-1/.}",
            "{..}",
            "{/...}",
            "{+/}",
            "{+..}",
            "{##}",
            "{0#}",
            "{0%}",
            "{%.x}",
            "{#a}",
            "{/a/b}",
            "{:1}",
            "{^a}",
            "{= $_ =}",
            "{=1 s/a/b/ =}",
            // A value Perl makes into a command is still only a value.
            "{= $_=q{$(touch }.uc(q{canary}).q{)} =}",
        ][..],
    )
    .prop_map(String::from)
    .boxed()
}

/// Plain text: lower-case letters and digits only, so the template itself never names the
/// canary.
fn plain() -> BoxedStrategy<String> {
    "[a-z0-9_./-]{1,4}".boxed()
}

/// A word outside quotes, from pieces of every kind of quoting; `wild`: with syntax the
/// reading cannot be sure of, and bytes in any order.
fn word(depth: u32, wild: bool) -> BoxedStrategy<String> {
    let wild = u32::from(wild);
    let leaf = prop_oneof![
        3 => plain().boxed(),
        3 => replacement().boxed(),
        wild => prop::sample::select(
            &[
                "\\'", "\\\"", "\\$", "\\#", "\\\\", "\\ ", "$", "#", "\\\n", "<\\\n<", "$\\\n(",
                "((", "$((", "$[", "alias ", "<<<", "\\`",
            ][..]
        )
        .prop_map(String::from)
        .boxed(),
        // Arithmetic, where `'` is no quote.
        1 => (
            replacement(),
            prop::sample::select(&[("$((", "))"), ("$(( (", ") ))"), ("$((1+", "))")][..])
        )
            .prop_map(|(r, (open, close))| format!("{open}{r}{close}"))
            .boxed(),
        // Any of the bytes shells act on, in any order.
        wild => "[ '\"\\\\$`(){}#;<>|&\n\t-]{1,3}".boxed(),
        1 => prop::sample::select(&["\\'", "\\\"", "\\$", "\\#", "\\\\", "\\ ", "#"][..])
            .prop_map(String::from)
            .boxed(),
        2 => prop::collection::vec(
            prop_oneof![
                replacement(),
                "[a-z \"$`\\\\#;(){}|]{1,3}",
            ],
            0..4,
        )
        .prop_map(|inner| format!("'{}'", inner.concat()))
        .boxed(),
        2 => prop::collection::vec(
            prop_oneof![
                replacement(),
                "[a-z '#;(){}|]{1,3}",
                prop::sample::select(&["\\$", "\\\"", "\\\\", "\\`", "$x", "${x:-", "}"][..])
                    .prop_map(String::from),
            ],
            0..4,
        )
        .prop_map(|inner| format!("\"{}\"", inner.concat()))
        .boxed(),
        2 => prop::collection::vec(
            prop_oneof![
                replacement(),
                "[a-z \"$`#;(){}|]{1,3}",
                prop::sample::select(&["\\'", "\\\\", "\\n", "\\x41", "\\", "'"][..])
                    .prop_map(String::from),
            ],
            0..4,
        )
        .prop_map(|inner| format!("$'{}'", inner.concat()))
        .boxed(),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let inner = command(depth - 1, wild == 1);
    prop_oneof![
        12 => leaf,
        1 => inner.clone().prop_map(|c| format!("\"$( {c}\n)\"")),
        1 => inner.clone().prop_map(|c| format!("$( {c}\n)")),
        // Ends right after the command: `$((`, and a here-document's `EOF)`.
        1 => inner.clone().prop_map(|c| format!("$({c})")),
        1 => inner.clone().prop_map(|c| format!("\"`{}`\"", c.replace('`', "\\`"))),
        1 => inner.prop_map(|c| format!("`{}`", c.replace('\\', "\\\\").replace('`', "\\`"))),
        1 => (word(depth - 1, wild == 1), any::<bool>()).prop_map(|(w, quoted)| {
            if quoted {
                format!("\"${{x:-{w}}}\"")
            } else {
                format!("${{x:-{w}}}")
            }
        }),
    ]
    .boxed()
}

/// Several words joined into one.
fn compound(depth: u32, wild: bool) -> BoxedStrategy<String> {
    prop::collection::vec(word(depth, wild), 1..4)
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// A here-document's body line.
fn body_line() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![
            3 => plain(),
            3 => replacement(),
            1 => prop::sample::select(
                &["'", "\"", "$x", "\\", "\\$", "$(echo a)", "`echo b`", "EOF", "$", " "][..]
            )
            .prop_map(String::from),
        ],
        0..4,
    )
    .prop_map(|pieces| pieces.concat())
    .boxed()
}

/// One simple or compound command.
fn command(depth: u32, wild: bool) -> BoxedStrategy<String> {
    let words = prop::collection::vec(compound(depth, wild), 0..4)
        .prop_map(|w| w.join(" "))
        .boxed();
    prop_oneof![
        3 => words.clone().prop_map(|w| format!("echo {w}")),
        2 => words.clone().prop_map(|w| format!("printf '%s|' {w}")),
        2 => (
            prop::sample::select(&["<<", "<<-", "<< "][..]),
            prop::sample::select(
                &["EOF", "EOF", "EOF", "'EOF'", "\"EOF\"", "\\EOF", "E\"O\"F", "{}"][..]
            ),
            prop::collection::vec(body_line(), 0..3),
            words.clone(),
        )
            .prop_map(|(op, delimiter, lines, w)| {
                let end = delimiter.replace(['\'', '"', '\\'], "");
                let mut text = format!("cat {op}{delimiter} {w}\n");
                for line in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
                text.push_str(&end);
                text
            }),
        2 => (compound(depth, wild), compound(depth, wild), words.clone()).prop_map(|(subject, pattern, w)| {
            format!("case {subject} in {pattern}) echo {w};; (x|y) echo;; *) echo no;; esac")
        }),
        2 => (
            prop::collection::vec(
                prop_oneof![
                    plain(),
                    replacement(),
                    prop::sample::select(&["'", "\"", "(", ")", "`", "$(", " ", "\\"][..])
                        .prop_map(String::from),
                ],
                0..6,
            ),
            words.clone(),
        )
            .prop_map(|(comment, w)| format!("echo {w} # {}\n", comment.concat())),
        1 => words.prop_map(|w| format!("( echo {w} )")),
    ]
    .boxed()
}

/// A template: commands joined by separators, one in three wild.
fn template() -> impl Strategy<Value = String> {
    let commands = prop_oneof![
        2 => prop::collection::vec(command(2, false), 1..4),
        1 => prop::collection::vec(command(2, true), 1..4),
    ];
    (
        commands,
        prop::collection::vec(prop::sample::select(&["; ", "\n", " && ", " | "][..]), 3),
    )
        .prop_map(|(commands, separators)| {
            let mut text = String::new();
            for (i, c) in commands.iter().enumerate() {
                if i > 0 {
                    text.push_str(separators[i - 1]);
                }
                text.push_str(c);
            }
            text
        })
}

/// A value that creates the canary wherever a shell reads it as code, wrapped in what shells
/// act on.
fn hostile_value() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop::sample::select(
        &[
            "$(touch CANARY)",
            "`touch CANARY`",
            ";touch CANARY;",
            "\ntouch CANARY\n",
            "'; touch CANARY; '",
            "\"; touch CANARY; \"",
            "\\'; touch CANARY; #",
            "\\\"; touch CANARY; #",
            "\nEOF\ntouch CANARY\n",
            "\n\tEOF\ntouch CANARY #",
            ") touch CANARY;; esac; (",
            "}; touch CANARY; {",
            "$'\\''; touch CANARY; #",
            "`;touch CANARY;`",
            "\"$(touch CANARY)\"",
            "'$(touch CANARY)'",
            "# \ntouch CANARY",
        ][..],
    );
    // No `[`: bash runs the `$(…)` in an array subscript of a value it evaluates as a number
    // (`E[$(touch CANARY)]` in `$((…))`), as it would any data: a command's doing, not the
    // line's.
    let noise = prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(b"'\"\\$`!*?{}()<>|&;#~=./ \t\nEOF".to_vec()),
            1 => prop_oneof![1u8..=b'[' - 1, b'[' + 1..=255],
        ],
        0..4,
    );
    (noise.clone(), payload, noise).prop_map(|(before, payload, after)| {
        let mut value = before;
        value.extend_from_slice(payload.as_bytes());
        value.extend(after);
        value
    })
}

/// Splits a template at some of its spaces into brake's words: they are joined by spaces
/// again, into the same line.
fn split(template: &str, cuts: &[bool]) -> Vec<Vec<u8>> {
    let mut words = vec![Vec::new()];
    let mut cut = cuts.iter().cycle();
    for &byte in template.as_bytes() {
        if byte == b' ' && *cut.next().unwrap_or(&false) {
            words.push(Vec::new());
        } else {
            words.last_mut().unwrap().push(byte);
        }
    }
    words
}

/// One random template and hostile value: brake refuses it with one line, or renders a line
/// that neither dash nor bash, nor brake itself, ever runs the value in.
fn check(template: &str, cuts: &[bool], value: &[u8]) -> Result<(), TestCaseError> {
    check_with(template, cuts, &[], &[value.to_vec()])
}

/// [`check`] with brake's `options` before the template and `values` as the one job's values
/// (the options must put them all in one job).
fn check_with(
    template: &str,
    cuts: &[bool],
    options: &[&[u8]],
    values: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    let value = values.concat();
    let value = value.as_slice();
    let dir = tempfile::tempdir().unwrap();
    let words = split(template, cuts);
    let mut args: Vec<&[u8]> = vec![b"--dry-run", b"--plus"];
    args.extend(options);
    args.extend(words.iter().map(Vec::as_slice));
    args.push(b":::");
    args.extend(values.iter().map(Vec::as_slice));
    let out = brake_in(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(255) {
        prop_assert!(
            stderr.starts_with("brake: ") && stderr.lines().count() == 1,
            "refusal not one line: {stderr:?}"
        );
        prop_assert!(out.stdout.is_empty());
        return Ok(());
    }
    prop_assert!(out.status.success(), "{template:?}: {stderr}");
    let mut line = out.stdout;
    prop_assert_eq!(line.pop(), Some(b'\n'));
    for shell in ["dash", "bash"] {
        shell_in(dir.path(), shell, &line);
        prop_assert!(
            !dir.path().join(CANARY).exists(),
            "{shell} ran the value {:?}: template {template:?} rendered {:?}",
            String::from_utf8_lossy(value),
            String::from_utf8_lossy(&line)
        );
    }
    brake_in(dir.path(), &args[1..]);
    prop_assert!(
        !dir.path().join(CANARY).exists(),
        "brake ran the value {:?}: template {template:?} rendered {:?}",
        String::from_utf8_lossy(value),
        String::from_utf8_lossy(&line)
    );
    Ok(())
}

/// Random templates of comments, here-documents, `$'…'`, `case`, nested `$(…)` and
/// backquotes, `${…}` and quotes, with replacement strings anywhere, and values built to run a
/// command: no shell ever runs one. `BRAKE_TORTURE_FUZZ_CASES` sets the number of cases.
#[test]
fn torture_fuzz_injection() {
    let mut runner = TestRunner::new(Config {
        cases: fuzz_cases(96),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        template(),
        prop::collection::vec(any::<bool>(), 1..6),
        hostile_value(),
    );
    let ran = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(template, cuts, value)| {
        ran.set(ran.get() + 1);
        check(&template, &cuts, &value)
    });
    let mut tally = Tally::new("fuzz-injection");
    tally.trials = ran.get();
    tally.bad_inputs = ran.get();
    let failures = match result {
        Ok(()) => Vec::new(),
        Err(err) => vec![format!("fuzz-injection: {err}")],
    };
    tally.finish_with(&failures);
}

/// The same random templates with many values in one job, as `-X` repeats the word holding
/// `{}` for each value and `-m`, `-N` and `-n` put them all in: no shell ever runs one.
#[test]
fn torture_fuzz_injection_many_values() {
    let mut runner = TestRunner::new(Config {
        cases: fuzz_cases(64),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        template(),
        prop::collection::vec(any::<bool>(), 1..6),
        prop::collection::vec(hostile_value(), 1..4),
        prop::sample::select(&["-X", "-m", "-N", "-n", "--xargs"][..]),
    );
    let ran = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(template, cuts, values, option)| {
        ran.set(ran.get() + 1);
        let count = values.len().to_string();
        let options: Vec<&[u8]> = match option {
            "-N" | "-n" => vec![option.as_bytes(), count.as_bytes()],
            _ => vec![b"-j1", option.as_bytes()],
        };
        check_with(&template, &cuts, &options, &values)
    });
    let mut tally = Tally::new("fuzz-injection-many-values");
    tally.trials = ran.get();
    tally.bad_inputs = ran.get();
    let failures = match result {
        Ok(()) => Vec::new(),
        Err(err) => vec![format!("fuzz-injection-many-values: {err}")],
    };
    tally.finish_with(&failures);
}

/// `-X` repeats whole shell words, quotes and substitutions included, and `-m` puts every
/// value where `{}` stands: each value stays data, in dash, bash and brake.
#[test]
fn many_values_stay_data() {
    let values: [&[u8]; 3] = [b"$(touch CANARY)", b"a b", b"'; touch CANARY; '"];
    for (option, template, expected) in [
        (
            "-X",
            &b"echo x{}y"[..],
            &b"x$(touch CANARY)y xa by x'; touch CANARY; 'y\n"[..],
        ),
        (
            "-X",
            b"echo \"<{}>\"",
            b"<$(touch CANARY)> <a b> <'; touch CANARY; '>\n",
        ),
        (
            "-X",
            b"echo $(printf %s {})",
            b"$(touch CANARY) a b '; touch CANARY; '\n",
        ),
        (
            "-m",
            b"echo '[{}]'",
            b"[$(touch CANARY) a b '; touch CANARY; ']\n",
        ),
        ("-m", b"echo", b"$(touch CANARY) a b '; touch CANARY; '\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<&[u8]> = vec![b"-j1", option.as_bytes(), template, b":::"];
        args.extend(values);
        let out = brake_in(dir.path(), &args);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(expected),
            "{option} {}",
            String::from_utf8_lossy(template)
        );
        let mut dry: Vec<&[u8]> = vec![b"--dry-run"];
        dry.extend(&args);
        let mut line = brake_in(dir.path(), &dry).stdout;
        assert_eq!(line.pop(), Some(b'\n'));
        for shell in ["dash", "bash"] {
            assert_eq!(
                shell_in(dir.path(), shell, &line).stdout,
                expected,
                "{shell}"
            );
        }
        assert!(
            !dir.path().join(CANARY).exists(),
            "a value ran: {:?}",
            String::from_utf8_lossy(&line)
        );
    }
}

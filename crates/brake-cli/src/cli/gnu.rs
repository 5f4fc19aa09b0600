//! GNU parallel syntax that brake does not have: replacement strings, source markers and
//! options. Each is refused with a line that names it (and what to write instead, where brake
//! has an equivalent) rather than run as literal text: with `mv` or `rm`, a `{-1}` or `:::+`
//! taken literally does real damage.

use std::ffi::OsString;

/// The first GNU parallel replacement string in `words` (the command, before any `:::`) that
/// brake does not have, as the line that refuses it.
///
/// Only GNU's own forms are looked for, so shell and awk braces pass: `${x}`, `{a,b}`,
/// `{1..5}` and `awk '{print $1}'` are not replacement strings. The words are searched as one
/// line, as GNU parallel joins them, so a `{= … =}` split over words is found too.
pub fn unsupported_replacement(words: &[OsString]) -> Option<String> {
    let line = words
        .iter()
        .map(|word| word.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let bytes = line.as_bytes();
    for (at, _) in line.match_indices('{') {
        if at > 0 && bytes[at - 1] == b'$' {
            continue;
        }
        let rest = &line[at + 1..];
        if let Some(message) = perl_expression(rest) {
            return Some(message);
        }
        let Some(end) = rest.find('}') else {
            continue;
        };
        if let Some(message) = unsupported_form(&rest[..end]) {
            return Some(message);
        }
    }
    None
}

/// `{= perl =}` or `{N= perl =}`, given the text after the `{`.
fn perl_expression(after_brace: &str) -> Option<String> {
    let position = after_brace.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let expression = position.strip_prefix('=')?;
    let end = expression.find("=}")?;
    let form = format!(
        "{{{}=}}",
        &after_brace[..after_brace.len() - expression.len() + end]
    );
    Some(format!(
        "{} is a GNU parallel Perl expression, which brake does not run; edit the value in \
         the shell instead (e.g. brake -q sh -c 'echo \"${{1%.gz}}\"' sh {{}})",
        shorten(&form)
    ))
}

/// The refusal for `{inner}` when it is a GNU form brake lacks.
fn unsupported_form(inner: &str) -> Option<String> {
    let named = match inner {
        "##" => Some(("the number of jobs", None)),
        "0#" => Some(("the job number padded with zeros", Some("{#}"))),
        "0%" => Some(("the job slot padded with zeros", Some("{%}"))),
        "seq" => Some(("the job number", Some("{#}"))),
        "slot" => Some(("the job slot", Some("{%}"))),
        "choose_k" => Some(("the inputs in order, for --xapply", None)),
        "hgrp" | "agrp" => Some(("a host group", None)),
        "sshlogin" | "host" => Some(("the remote host", None)),
        _ => None,
    };
    if let Some((meaning, instead)) = named {
        return Some(refusal(inner, meaning, instead));
    }
    let digits = inner.trim_start_matches('-');
    let negative = digits.len() < inner.len();
    if negative && inner.len() - digits.len() > 1 {
        return None;
    }
    let modifier = digits.trim_start_matches(|c: char| c.is_ascii_digit());
    let has_position = modifier.len() < digits.len();
    if negative && !has_position {
        return None;
    }
    let meaning = match modifier {
        "" | "." | "/" | "//" | "/." if negative => "a source counted from the last",
        ".." | "..." => "the input without its last two or three extensions",
        "/.." | "/..." => "the basename without its last two or three extensions",
        "+/" => "the input's directory part and /",
        "+." | "+.." | "+..." => "the input's extensions",
        _ => return None,
    };
    let instead = negative.then_some("{1} {2} … counting from the first source");
    Some(refusal(inner, meaning, instead))
}

fn refusal(inner: &str, meaning: &str, instead: Option<&str>) -> String {
    let form = format!("{{{inner}}}");
    match instead {
        Some(instead) => format!(
            "{form} is GNU parallel's replacement string for {meaning}, which brake does not \
             have yet; use {instead}"
        ),
        None => format!(
            "{form} is GNU parallel's replacement string for {meaning}, which brake does not \
             have yet (brake --help lists the ones it has)"
        ),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The refusal of a GNU parallel source marker brake does not have (`:::+`, `::::+`).
pub fn unsupported_marker(word: &OsString) -> Option<String> {
    let marker = match word.to_str()? {
        ":::+" => ":::+",
        "::::+" => "::::+",
        _ => return None,
    };
    Some(format!(
        "{marker} (GNU parallel's source linked to the one before it, value by value) is not \
         supported yet; brake combines sources with ::: and :::: only (every combination)"
    ))
}

/// GNU parallel options brake does not have, with what each means there and, where brake has
/// one, what to write instead.
const GNU_OPTIONS: &[(&[&str], &str)] = &[
    (&["-0", "--null"], "--null: NUL-separated input"),
    (&["-a", "--arg-file"], "--arg-file: use :::: FILE"),
    (&["-d", "--delimiter"], "--delimiter"),
    (&["-C", "--colsep"], "--colsep: split lines into columns"),
    (&["-X", "-m", "--xargs"], "many values per command"),
    (
        &["-n", "-N", "--max-args", "-L", "--max-lines"],
        "values per command",
    ),
    (
        &["-I", "-i", "--replace"],
        "another replacement string: use {}",
    ),
    (&["-E", "--eof"], "an end-of-input marker"),
    (&["-r", "--no-run-if-empty"], "--no-run-if-empty"),
    (
        &["-S", "--sshlogin", "--slf", "--sshloginfile"],
        "remote hosts",
    ),
    (&["-P", "--max-procs", "--procs"], "jobs at once: use -j"),
    (&["--plus"], "--plus: more replacement strings"),
    (&["--eta", "--progress"], "a progress display: use --bar"),
    (&["--results", "--res", "--files"], "output saved to files"),
    (&["--header"], "--header: a first line naming the columns"),
    (&["--tagstring"], "--tagstring: use --tag"),
    (&["--linebuffer", "--lb"], "use --line-buffer"),
    (&["--dryrun"], "use --dry-run"),
    (&["--retry-failed"], "use --resume-failed"),
    (&["--halt-on-error"], "use --halt"),
    (&["--shuf"], "--shuf: jobs in random order"),
    (&["--delay"], "--delay between starts"),
    (
        &["--load", "--memfree", "--noswap"],
        "starting jobs by the machine's load",
    ),
    (&["--nice"], "--nice: run jobs niced (use brake … nice CMD)"),
    (
        &["--env", "--record-env"],
        "--env: environment for remote jobs",
    ),
    (&["--semaphore", "--sem", "--fg", "--bg"], "--semaphore"),
    (
        &["--will-cite", "--citation", "--bibtex", "--no-notice"],
        "the citation notice; brake has none, drop it",
    ),
    (
        &["-t"],
        "-t: commands printed to stderr (use -v or --dry-run)",
    ),
];

/// The line that refuses an option clap does not know (`arg` as it was typed, value and
/// all), naming GNU parallel's meaning when it is one of its options. `similar` is an option
/// of brake's that is spelled like it, if clap found one.
pub fn unknown_option(arg: &str, similar: Option<&str>) -> String {
    let name = arg.split_once('=').map_or(arg, |(name, _)| name);
    let name = match name.strip_prefix('-') {
        // A bundle of short options (`-0k`) is refused for its first.
        Some(short) if !short.starts_with('-') && short.chars().count() > 1 => {
            &name[..1 + short.chars().next().map_or(0, char::len_utf8)]
        }
        _ => name,
    };
    let gnu = GNU_OPTIONS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, meaning)| *meaning);
    let shown = crate::escape::shorten(std::ffi::OsStr::new(name), 40);
    match (gnu, similar) {
        (Some(meaning), _) => format!(
            "brake: unknown option {shown} (GNU parallel's {meaning}; not supported yet); see \
             brake --help"
        ),
        (None, Some(similar)) => {
            format!("brake: unknown option {shown} (did you mean {similar}?); see brake --help")
        }
        (None, None) => format!("brake: unknown option {shown}; see brake --help"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(line: &str) -> Option<String> {
        let words: Vec<OsString> = line.split(' ').map(OsString::from).collect();
        unsupported_replacement(&words)
    }

    #[test]
    fn brakes_own_forms_and_shell_braces_pass() {
        for line in [
            "echo {} {.} {/} {//} {/.} {#} {%} {1} {2.} {10/} {3//} {1/.}",
            "echo ${x} ${#} ${x%.gz} {a,b} {1..5} {x}",
            "awk {print $1}",
            "sh -c 'f() { echo; }; f'",
            "echo {--1} {-} {-.} {=} {= x",
        ] {
            assert_eq!(found(line), None, "{line}");
        }
    }

    #[test]
    fn gnu_forms_brake_lacks_are_named() {
        for (line, form) in [
            ("mv {} {-1}", "{-1}"),
            ("echo {-2.}", "{-2.}"),
            ("echo {..}", "{..}"),
            ("echo {1...}", "{1...}"),
            ("echo {/..}", "{/..}"),
            ("echo {+/}", "{+/}"),
            ("echo {+.}", "{+.}"),
            ("echo {2+..}", "{2+..}"),
            ("echo {##}", "{##}"),
            ("echo x{0#}", "{0#}"),
            ("echo {0%}", "{0%}"),
            ("echo {choose_k}", "{choose_k}"),
            ("echo {hgrp} {agrp}", "{hgrp}"),
            ("echo {host}", "{host}"),
            ("echo {sshlogin}", "{sshlogin}"),
        ] {
            let message = found(line).unwrap_or_else(|| panic!("{line}: not found"));
            assert!(
                message.starts_with(&format!("{form} is GNU parallel's")),
                "{message}"
            );
        }
        assert!(found("echo {slot}").unwrap().ends_with("use {%}"));
        assert!(found("echo {seq}").unwrap().ends_with("use {#}"));
        assert!(found("mv {} {-1}")
            .unwrap()
            .contains("counting from the first"));
    }

    #[test]
    fn perl_expressions_are_named_even_across_words() {
        let message = found("echo {= s/a/b/ =}").unwrap();
        assert!(
            message.starts_with("{= s/a/b/ =} is a GNU parallel Perl"),
            "{message}"
        );
        assert!(found("echo {2=$_=uc=}").unwrap().starts_with("{2=$_=uc=}"));
        assert!(found("echo {-1= s/x// =}").is_some());
    }

    #[test]
    fn markers_brake_lacks_are_named() {
        assert!(unsupported_marker(&":::+".into())
            .unwrap()
            .starts_with(":::+ (GNU"));
        assert!(unsupported_marker(&"::::+".into())
            .unwrap()
            .starts_with("::::+ (GNU"));
        assert_eq!(unsupported_marker(&":::".into()), None);
    }

    #[test]
    fn unknown_options_say_what_gnu_meant() {
        assert_eq!(
            unknown_option("-0", None),
            "brake: unknown option -0 (GNU parallel's --null: NUL-separated input; not \
             supported yet); see brake --help"
        );
        assert!(unknown_option("--colsep=,", None).contains("--colsep (GNU parallel's"));
        assert!(unknown_option("-0k", None).starts_with("brake: unknown option -0 (GNU"));
        assert!(unknown_option("--eta", None).contains("use --bar"));
        assert_eq!(
            unknown_option("--grop", Some("--group")),
            "brake: unknown option --grop (did you mean --group?); see brake --help"
        );
        assert_eq!(
            unknown_option("--frobnicate", None),
            "brake: unknown option --frobnicate; see brake --help"
        );
    }
}

//! GNU parallel syntax that brake does not have: source markers and options. Each is refused
//! with a line that names it (and what to write instead, where brake has an equivalent) rather
//! than run as literal text: with `mv` or `rm`, a `:::+` taken literally does real damage.

use std::ffi::OsString;

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
    (&["-E", "--eof"], "an end-of-input marker"),
    (&["-r", "--no-run-if-empty"], "--no-run-if-empty"),
    (
        &["-S", "--sshlogin", "--slf", "--sshloginfile"],
        "remote hosts",
    ),
    (&["-P", "--max-procs", "--procs"], "jobs at once: use -j"),
    (
        &["--pipe", "--pipepart", "--block", "--spreadstdin"],
        "--pipe: stdin split among jobs",
    ),
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

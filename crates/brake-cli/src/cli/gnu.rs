//! GNU parallel options brake does not have. Each is refused with a line that names it (and
//! what to write instead, where brake has an equivalent) rather than ignored.

/// GNU parallel options brake does not have, with what each means there and, where brake has
/// one, what to write instead.
const GNU_OPTIONS: &[(&[&str], &str)] = &[
    (
        &["-S", "--sshlogin", "--slf", "--sshloginfile"],
        "remote hosts",
    ),
    (
        &["--retry-failed"],
        "--retry-failed: the joblog's failed commands run again; give the command line again \
         with --resume-failed",
    ),
    (
        &["--noswap"],
        "starting jobs only while the machine does not swap",
    ),
    (
        &["--env", "--record-env"],
        "--env: environment for remote jobs",
    ),
    (&["--semaphore", "--sem", "--fg", "--bg"], "--semaphore"),
    (
        &["--citation", "--bibtex"],
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
    fn unknown_options_say_what_gnu_meant() {
        assert_eq!(
            unknown_option("--semaphore", None),
            "brake: unknown option --semaphore (GNU parallel's --semaphore; not supported yet); \
             see brake --help"
        );
        assert!(unknown_option("--sem=x", None).contains("--sem (GNU parallel's"));
        assert!(unknown_option("-Zk", None).starts_with("brake: unknown option -Z;"));
        assert!(unknown_option("--shebang", None).starts_with("brake: unknown option --shebang"));
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

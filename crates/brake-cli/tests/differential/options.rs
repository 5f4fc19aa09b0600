//! Which GNU parallel options and syntax a command line uses, and which of them brake lacks:
//! brake's options are read from `brake --help`, so the answer follows brake as it grows.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// GNU parallel's long options that take a value in the next word (or after `=`).
const LONG_WITH_VALUE: &[&str] = &[
    "arg-file",
    "arg-file-sep",
    "arg-sep",
    "basefile",
    "bf",
    "basenamereplace",
    "bnr",
    "basenameextensionreplace",
    "bner",
    "bin",
    "block",
    "block-size",
    "block-timeout",
    "bt",
    "colsep",
    "compress-program",
    "decompress-program",
    "ctagstring",
    "delay",
    "delimiter",
    "dirnamereplace",
    "dnr",
    "env",
    "extensionreplace",
    "er",
    "filter",
    "group-by",
    "halt",
    "halt-on-error",
    "header",
    "id",
    "jl",
    "joblog",
    "jobs",
    "limit",
    "load",
    "max-args",
    "max-chars",
    "max-procs",
    "max-replace-args",
    "memfree",
    "memsuspend",
    "minversion",
    "nice",
    "parens",
    "process-slot-var",
    "profile",
    "recend",
    "recstart",
    "res",
    "results",
    "retries",
    "return",
    "rpl",
    "rsync-opts",
    "semaphore-name",
    "semaphore-timeout",
    "seqreplace",
    "shard",
    "slf",
    "slotreplace",
    "ssh",
    "ssh-delay",
    "sshlogin",
    "sshloginfile",
    "st",
    "tagstring",
    "template",
    "term-seq",
    "termseq",
    "tf",
    "timeout",
    "tmpdir",
    "tmpl",
    "total",
    "total-jobs",
    "transferfile",
    "trc",
    "trim",
    "wd",
    "workdir",
];

/// GNU parallel's one-letter options that take a value (attached or in the next word).
const SHORT_WITH_VALUE: &str = "aCdEIjJLnNPsS";

/// The options `brake --help` lists, short and long (`-j`, `--jobs`, …).
pub fn brake_options(brake: &Path) -> BTreeSet<String> {
    let help = Command::new(brake)
        .arg("--help")
        .output()
        .expect("run brake --help");
    let text = String::from_utf8_lossy(&help.stdout);
    let mut known = BTreeSet::new();
    for line in text.lines() {
        if !line.trim_start().starts_with('-') {
            continue;
        }
        for word in line.split_whitespace() {
            if !word.starts_with('-') {
                break;
            }
            let name = word.trim_end_matches(',');
            let name = name.split(['=', '<', '[']).next().unwrap_or(name);
            known.insert(name.to_owned());
        }
    }
    known
}

/// What the line asks of `parallel`, in order: each option as written (without its value), and
/// the syntax beyond plain `:::`/`::::` and the replacement strings brake knows (`:::+`,
/// `::::+`, `{= … =}`).
pub fn gnu_features(line: &str) -> Vec<String> {
    let words = shell_words(line);
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] != "parallel" {
            i += 1;
            continue;
        }
        i += 1;
        while let Some(word) = words.get(i) {
            if let Some(long) = word.strip_prefix("--").filter(|name| !name.is_empty()) {
                let (name, attached) = match long.split_once('=') {
                    Some((name, _)) => (name, true),
                    None => (long, false),
                };
                found.push(format!("--{name}"));
                if !attached && LONG_WITH_VALUE.contains(&name) {
                    i += 1;
                }
            } else if let Some(short) = word.strip_prefix('-').filter(|s| is_short_cluster(s)) {
                for (at, letter) in short.char_indices() {
                    found.push(format!("-{letter}"));
                    if SHORT_WITH_VALUE.contains(letter) {
                        if at + letter.len_utf8() == short.len() {
                            i += 1;
                        }
                        break;
                    }
                }
            } else {
                break;
            }
            i += 1;
        }
    }
    for word in &words {
        if (word == ":::+" || word == "::::+") && !found.contains(word) {
            found.push(word.clone());
        }
    }
    if line.contains("{=") {
        found.push("{= =}".to_owned());
    }
    found
}

/// The first feature of the line that brake does not list, if any.
pub fn first_unsupported(line: &str, known: &BTreeSet<String>) -> Option<String> {
    gnu_features(line)
        .into_iter()
        .find(|feature| !known.contains(feature))
}

/// `-kj4`, `-0`, `-X`: letters or digits after one dash (a negative number is not one).
fn is_short_cluster(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() => true,
        Some(first) => first.is_ascii_digit() && chars.all(|c| c.is_ascii_alphabetic()),
        None => false,
    }
}

/// The line's words as the shell splits them, quotes removed, with each unquoted control
/// operator (`|`, `;`, `&`, `(`, `)`, `<`, `>`) a word of its own. Good enough to find options;
/// not a shell.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut chars = line.chars();
    let end_word = |word: &mut String, started: &mut bool, words: &mut Vec<String>| {
        if *started {
            words.push(std::mem::take(word));
            *started = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                started = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                started = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                started = true;
                word.extend(chars.next());
            }
            '|' | ';' | '&' | '(' | ')' | '<' | '>' => {
                end_word(&mut word, &mut started, &mut words);
                words.push(c.to_string());
            }
            c if c.is_whitespace() => end_word(&mut word, &mut started, &mut words),
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut started, &mut words);
    words
}

#[test]
fn features_are_found_in_order() {
    assert_eq!(
        gnu_features("seq 3 | parallel -j4 -k --colsep , --pipe=x echo {} ::: a"),
        ["-j", "-k", "--colsep", "--pipe"]
    );
    assert_eq!(
        gnu_features("parallel -kX -n 2 'echo {=1 $_=uc=}' :::+ a"),
        ["-k", "-X", "-n", ":::+", "{= =}"]
    );
    assert_eq!(
        gnu_features("printf 'a|b' > x; parallel -0 echo :::: x; parallel -j 2 echo"),
        ["-0", "-j"]
    );
    assert_eq!(gnu_features("echo parallel | parallel -N1"), ["-N"]);
}

//! GNU parallel's Perl replacement strings (`{= … =}`, `--rpl`, `--plus`'s pattern strings):
//! one `perl` process per run, started when the template is parsed, that compiles every
//! expression once and then, job by job, receives the job's values and answers with what each
//! expression makes of them, as GNU parallel would (`$_`, `@arg`, `$job->seq()`, `seq()`,
//! `slot()`, `total_jobs()`, `skip()`, `Q()`, `pQ()`).
//!
//! The answers are values: `template.rs` quotes them for their place in the shell line like
//! any input. GNU's `uq()`, which pastes a value unquoted, is refused when the template is
//! parsed.
//!
//! The process is brake's child and lives no longer than the run: it ignores the terminal's
//! SIGINT and SIGHUP (brake decides what a stop does, and it renders no job after one), it is
//! killed and reaped when the template is dropped, and when brake dies in any way it gets
//! SIGKILL as its parent-death signal (set by the script where Perl knows `prctl`), and exits
//! by itself at the end of its input, which the kernel closes then. It reads only brake's pipe and
//! writes only its answers there: the expressions' own prints go to stderr.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use super::TemplateError;

/// The Perl side. Everything it names starts with `brake_` or is one of GNU's helpers, so
/// that an expression's own variables do not collide with it; expressions are compiled by
/// `brake_compile`, defined before any lexical variable, so that they see none.
const SCRIPT: &str = r#"
no strict; no warnings;
sub brake_compile { eval "sub { no strict; no warnings; my \$job = shift; $_[0]\n}" }
$SIG{INT} = 'IGNORE'; $SIG{HUP} = 'IGNORE';
# Killed with brake, even while an expression runs: PR_SET_PDEATHSIG (1), SIGKILL (9), where
# Perl knows the system call; brake gone already, no answer is wanted.
eval { require 'syscall.ph'; syscall(&SYS_prctl, 1, 9) };
exit 0 if getppid() != $ARGV[0];
open($brake_in, '<&', \*STDIN) or exit 2;
open($brake_out, '>&', \*STDOUT) or exit 2;
open(STDIN, '<', '/dev/null');
open(STDOUT, '>&', \*STDERR);
binmode $brake_in; binmode $brake_out; binmode STDOUT;
select((select($brake_out), $| = 1)[0]);
sub brake_line { my $l = readline($brake_in); defined $l or exit 0; chomp $l; $l }
sub brake_bytes {
    my $n = brake_line(); my $b = '';
    while (length($b) < $n) { read($brake_in, $b, $n - length($b), length($b)) or exit 0 }
    $b
}
sub brake_put {
    my $v = shift; $v = '' unless defined $v; $v = "$v";
    utf8::encode($v) if utf8::is_utf8($v);
    print $brake_out length($v), "\n", $v;
}
sub Q {
    my $s = shift; $s = '' unless defined $s;
    return "''" if $s eq '';
    return $s unless $s =~ m{[^-_.+a-zA-Z0-9/]};
    $s =~ s/'/'"'"'/g; $s = "'$s'"; $s =~ s/^''//; $s =~ s/''$//; $s
}
sub pQ { my $s = shift; $s = '' unless defined $s; $s =~ s/([\\"\$\@])/\\$1/g; $s }
sub skip { $brake_skip = 1 }
sub seq { $brake_seq }
sub slot { $brake_slot }
sub total_jobs { $brake_total }
sub hash { require B; B::hash(@_) }
sub brake_time { require POSIX; POSIX::strftime($_[0], localtime(time())) }
sub yyyy_mm_dd_hh_mm_ss { brake_time("%Y-%m-%dT%H:%M:%S") }
sub yyyy_mm_dd_hh_mm { brake_time("%Y-%m-%dT%H:%M") }
sub yyyy_mm_dd { brake_time("%Y-%m-%d") }
sub hh_mm_ss { brake_time("%H:%M:%S") }
sub hh_mm { brake_time("%H:%M") }
sub yyyymmddhhmmss { brake_time("%Y%m%d%H%M%S") }
sub yyyymmddhhmm { brake_time("%Y%m%d%H%M") }
sub yyyymmdd { brake_time("%Y%m%d") }
sub hhmmss { brake_time("%H%M%S") }
sub hhmm { brake_time("%H%M") }
sub brake_ungreedy {
    my ($out, $escaped, $class, $quantified) = ('', 0, 0, 0);
    for my $c (split //, $_[0]) {
        if ($quantified) { $out .= '?' if $c ne '?'; $quantified = 0 }
        $out .= $c;
        if ($escaped) { $escaped = 0 }
        elsif ($c eq '\\') { $escaped = 1 }
        elsif ($class) { $class = 0 if $c eq ']' }
        elsif ($c eq '[') { $class = 1 }
        elsif ($c =~ /[*+}]/) { $quantified = 1 }
    }
    $out .= '?' if $quantified;
    $out
}
package brake::Job;
sub seq { $main::brake_seq }
sub slot { $main::brake_slot }
sub skip { $main::brake_skip = 1 }
package main;
@brake_subs = ();
for $brake_i (1 .. brake_line()) {
    $brake_code = brake_bytes();
    $brake_sub = brake_compile($brake_code);
    if (!$brake_sub) {
        $brake_error = $@; $brake_error =~ s/\s+\z//; $brake_error =~ s/\n/ /g;
        print $brake_out "err\n"; brake_put("$brake_code: $brake_error"); exit 0;
    }
    push @brake_subs, $brake_sub;
}
print $brake_out "ok\n";
$brake_job = bless {}, 'brake::Job';
while (1) {
    ($brake_seq, $brake_slot, $brake_total, $brake_n) = split / /, brake_line();
    @brake_values = map { brake_bytes() } 1 .. $brake_n;
    @arg = (undef, @brake_values);
    $brake_skip = 0;
    for $brake_k (1 .. brake_line()) {
        ($brake_e, $brake_s) = split / /, brake_line();
        local $_ = $brake_values[$brake_s];
        $_ = '' unless defined $_;
        # An empty pattern (s//x/) means the last one matched, which in GNU parallel is
        # anchored at the start.
        '' =~ /^/;
        eval { $brake_subs[$brake_e]->($brake_job); 1 } or print STDERR "brake: perl: $@";
        brake_put($_);
    }
    print $brake_out "$brake_skip\n";
}
"#;

/// The running `perl` and its pipes.
struct Process {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The run's Perl evaluator.
pub(super) struct Perl {
    process: Mutex<Process>,
}

impl std::fmt::Debug for Perl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Perl")
    }
}

/// What one job's expressions gave.
pub(super) struct Answers {
    /// One value per wanted evaluation, in order.
    pub values: Vec<Vec<u8>>,
    /// Whether an expression called `skip()`.
    pub skip: bool,
}

/// The job an evaluation is for.
pub(super) struct JobInfo<'a> {
    pub args: &'a [OsString],
    pub seq: u64,
    pub slot: usize,
    pub total: u64,
}

impl Perl {
    /// Starts `perl` and compiles `expressions`; refuses one that does not compile, naming
    /// it.
    pub fn start(expressions: &[String]) -> Result<Perl, TemplateError> {
        let mut child = Command::new("perl")
            .arg("-e")
            .arg(SCRIPT)
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| {
                TemplateError(format!(
                    "GNU parallel's Perl replacement strings ({{= … =}}, --rpl, and --plus's \
                     {{%…}} {{#…}} {{/…/…}} {{:…}} {{^…}} {{,…}}) need perl, which could not \
                     be started: {err}; use brake's own strings ({{}} {{.}} {{/}} {{..}} {{+.}} …) \
                     instead"
                ))
            })?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both pipes were asked for");
        };
        let mut process = Process {
            child,
            input,
            output: BufReader::new(output),
        };
        let lost = |err: std::io::Error| {
            TemplateError(format!(
                "perl, which runs the Perl replacement strings, failed: {err}"
            ))
        };
        let mut request = format!("{}\n", expressions.len()).into_bytes();
        for expression in expressions {
            put(&mut request, expression.as_bytes());
        }
        process.input.write_all(&request).map_err(lost)?;
        process.input.flush().map_err(lost)?;
        match line(&mut process.output).map_err(lost)?.as_str() {
            "ok" => Ok(Perl {
                process: Mutex::new(process),
            }),
            "err" => {
                let message = bytes(&mut process.output).map_err(lost)?;
                Err(TemplateError(format!(
                    "cannot use the Perl expression {}",
                    crate::escape::shorten(std::ffi::OsStr::from_bytes(&message), 200)
                )))
            }
            other => Err(TemplateError(format!(
                "perl, which runs the Perl replacement strings, answered {other:?}"
            ))),
        }
    }

    /// Evaluates, for the job `job`, expression `e` on source `s`'s value for each `(e, s)`
    /// of `wanted`, in that order.
    pub fn evaluate(
        &self,
        job: &JobInfo<'_>,
        wanted: &[(usize, usize)],
    ) -> Result<Answers, String> {
        let mut process = self
            .process
            .lock()
            .map_err(|_| "the Perl evaluator failed earlier".to_string())?;
        let mut request = Vec::with_capacity(256);
        let _ = writeln!(
            request,
            "{} {} {} {}",
            job.seq,
            job.slot,
            job.total,
            job.args.len()
        );
        for arg in job.args {
            put(&mut request, arg.as_bytes());
        }
        let _ = writeln!(request, "{}", wanted.len());
        for (e, s) in wanted {
            let _ = writeln!(request, "{e} {s}");
        }
        let lost = |err: std::io::Error| {
            format!("perl, which runs the Perl replacement strings, stopped answering: {err}")
        };
        process.input.write_all(&request).map_err(lost)?;
        process.input.flush().map_err(lost)?;
        let values = wanted
            .iter()
            .map(|_| bytes(&mut process.output))
            .collect::<Result<Vec<_>, _>>()
            .map_err(lost)?;
        let skip = line(&mut process.output).map_err(lost)? == "1";
        Ok(Answers { values, skip })
    }
}

/// Appends `value` as the script reads it: its length on a line, then its bytes.
fn put(out: &mut Vec<u8>, value: &[u8]) {
    let _ = writeln!(out, "{}", value.len());
    out.extend_from_slice(value);
}

fn line(from: &mut impl BufRead) -> std::io::Result<String> {
    let mut text = String::new();
    if from.read_line(&mut text)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(text.trim_end_matches('\n').to_owned())
}

fn bytes(from: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let len: usize = line(from)?
        .parse()
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    let mut value = vec![0; len];
    from.read_exact(&mut value)?;
    Ok(value)
}

//! The options that shape the command template's replacement strings: `--plus`, the renamed
//! strings (`-I`, `--replace`, `--extensionreplace`, …), `--rpl` and `--parens`, as GNU
//! parallel spells them.

use crate::template::Replacements;

/// Replacement-string options.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Replacement strings")]
pub struct TemplateArgs {
    /// Also take GNU parallel's --plus strings: {..} {...} {/..} {/...} {+/} {+.} {+..} {+...}
    /// {##} {0#} {0%} and the shell-like {:-X} {:N} {:N:M} {#X} {%X} {/X/Y} {^X} {,X} …
    #[arg(long)]
    pub plus: bool,

    /// Use STR instead of {} for the input
    #[arg(short = 'I', value_name = "STR")]
    pub replace_str: Option<String>,

    /// Use STR (default {}) instead of {} for the input
    #[arg(
        short = 'i',
        long = "replace",
        value_name = "STR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "{}"
    )]
    pub replace: Option<String>,

    /// Use STR instead of {.} (the input without extension)
    #[arg(long, visible_alias = "er", value_name = "STR")]
    pub extensionreplace: Option<String>,

    /// Use STR instead of {/} (the basename)
    #[arg(long, visible_alias = "bnr", value_name = "STR")]
    pub basenamereplace: Option<String>,

    /// Use STR instead of {//} (the dirname)
    #[arg(long, visible_alias = "dnr", value_name = "STR")]
    pub dirnamereplace: Option<String>,

    /// Use STR instead of {/.} (the basename without extension)
    #[arg(long, visible_alias = "bner", value_name = "STR")]
    pub basenameextensionreplace: Option<String>,

    /// Use STR instead of {#} (the job number)
    #[arg(long, value_name = "STR")]
    pub seqreplace: Option<String>,

    /// Use STR instead of {%} (the job slot)
    #[arg(long, value_name = "STR")]
    pub slotreplace: Option<String>,

    /// Define a replacement string: 'TAG PERL', the Perl code editing $_ (needs perl); a TAG
    /// like {%(.+?)} matches a regular expression, its groups are $$1, $$2 … in the code
    #[arg(long, value_name = "'TAG PERL'")]
    pub rpl: Vec<String>,

    /// The two halves of STR open and close a Perl expression instead of {= and =}
    #[arg(long, value_name = "STR")]
    pub parens: Option<String>,
}

impl TemplateArgs {
    /// The replacement strings these options make, or the one-line reason they cannot.
    pub fn replacements(&self) -> Result<Replacements, String> {
        let mut table = Replacements::new(self.plus);
        let renames = [
            ("{}", &self.replace_str),
            ("{}", &self.replace),
            ("{.}", &self.extensionreplace),
            ("{/}", &self.basenamereplace),
            ("{//}", &self.dirnamereplace),
            ("{#}", &self.seqreplace),
            ("{%}", &self.slotreplace),
            ("{/.}", &self.basenameextensionreplace),
        ];
        for (old, new) in renames {
            if let Some(new) = new {
                if new.is_empty() {
                    return Err(format!(
                        "the string that replaces {old} cannot be empty (e.g. -I ,,)"
                    ));
                }
                table.rename(old, new);
            }
        }
        for rpl in &self.rpl {
            table.define(rpl)?;
        }
        if let Some(parens) = &self.parens {
            table.set_parens(parens)?;
        }
        Ok(table)
    }
}

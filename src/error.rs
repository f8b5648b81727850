//! Errors that code branches on or tests assert on.
//!
//! `InputError` locates a problem in the user's input (file, document, field) so the
//! message alone tells them where to look. Everything else travels as `anyhow::Error`
//! with context added at the edge (`commands`).

use std::fmt;

/// One problem in the user's input, located as precisely as we can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// File (as the user named it) or a pseudo-location such as `--name`.
    pub file: String,
    /// 1-based document index within a multi-document file, if the problem is inside one.
    pub document: Option<usize>,
    /// Field path (`spec.secretRef.namespace`) or `line 3, column 7` for syntax errors.
    pub field: Option<String>,
    /// What is wrong, lowercase, no trailing period.
    pub problem: String,
}

impl InputError {
    /// A problem with a whole file or a flag.
    pub fn new(file: impl Into<String>, problem: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            document: None,
            field: None,
            problem: problem.into(),
        }
    }

    /// Locates the problem in document `n` (1-based).
    pub fn in_document(mut self, n: usize) -> Self {
        self.document = Some(n);
        self
    }

    /// Locates the problem at a field path.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(n) = self.document {
            write!(f, ": document {n}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for InputError {}

/// Every input problem found in one pass, so users fix them all at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid input ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

impl From<InputError> for InputErrors {
    fn from(e: InputError) -> Self {
        InputErrors(vec![e])
    }
}

/// An error and its causes on one line, `outer: cause: root`, leaving out a cause whose
/// text the line already holds.
///
/// Errors that show their source in their own message (`path: {source}`) and also return
/// it from `source()` would otherwise print it twice (`gs: Is a directory (os error 21):
/// Is a directory (os error 21)`), which is what anyhow's `{:#}` does.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Shows {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("Is a directory (os error 21)");
        let err = anyhow::Error::new(Shows {
            path: "gs".into(),
            source: io,
        });
        assert_eq!(chain(err.as_ref()), "gs: Is a directory (os error 21)");
        // anyhow's own alternate form repeats it: what `chain` exists to avoid.
        assert_eq!(
            format!("{err:#}"),
            "gs: Is a directory (os error 21): Is a directory (os error 21)"
        );
    }

    #[test]
    fn context_and_new_causes_are_kept() {
        let err = anyhow::Error::new(std::io::Error::other("connection refused"))
            .context("cannot set up the AWS clients");
        assert_eq!(
            chain(err.as_ref()),
            "cannot set up the AWS clients: connection refused"
        );
    }
}

//! Splitting a request file into documents: YAML streams (`---` separators, counted as
//! users count them) and JSON streams, each parse error located by line and column, an
//! unclosed `[` or `{` reported where it opens.

use serde_json::Value;

use super::one_line;
use crate::error::InputError;

/// One YAML document's text and the file line it starts on.
struct YamlChunk<'a> {
    first_line: usize,
    text: &'a str,
}

/// Whether `line` is the document marker `marker` (`---` or `...`) at column 0.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Splits a YAML stream into documents by the rule documented on [`load`].
///
/// We split ourselves, and parse each piece alone, because serde-saphyr's multi-document
/// API silently drops empty documents, which would shift the numbers we report.
/// Splitting on column-0 markers is exact: YAML forbids `---`/`...` at column 0 inside a
/// document's content (even in block scalars), so such a line always ends a document.
fn split_yaml(text: &str) -> Vec<YamlChunk<'_>> {
    let mut chunks = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    // `explicit`: the current document began with `---`, so it counts even when empty.
    let (mut explicit, mut content) = (false, false);
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        if is_marker(line, "---") {
            if explicit || content {
                chunks.push(YamlChunk {
                    first_line: start_line,
                    text: &text[start..offset],
                });
                start = offset;
                start_line = line_no;
            }
            // Otherwise the blank/comment/directive prefix joins this document, which keeps
            // directives (`%YAML`) with the document they apply to.
            explicit = true;
            content = false;
        } else if is_marker(line, "...") {
            let end = offset + line.len();
            if explicit || content {
                chunks.push(YamlChunk {
                    first_line: start_line,
                    text: &text[start..end],
                });
            }
            start = end;
            start_line = line_no + 1;
            explicit = false;
            content = false;
        } else {
            let trimmed = line.trim_start();
            let directive = !explicit && !content && line.starts_with('%');
            if !(trimmed.is_empty() || trimmed.starts_with('#') || directive) {
                content = true;
            }
        }
        offset += line.len();
    }
    if explicit || content {
        chunks.push(YamlChunk {
            first_line: start_line,
            text: &text[start..],
        });
    }
    chunks
}

/// Parses every YAML document; syntax errors are recorded and the next document is tried
/// (documents are independent once split).
pub(super) fn yaml_documents(
    text: &str,
    file: &str,
    errors: &mut Vec<InputError>,
) -> Vec<(usize, Value)> {
    let mut documents = Vec::new();
    for (index, chunk) in split_yaml(text).into_iter().enumerate() {
        let document = index + 1;
        // `strict_booleans`: only YAML 1.2 `true`/`false` are booleans, so `no`, `on`,
        // `yes` stay strings (the "Norway problem" would turn namespace `no` into `false`).
        // Duplicate keys stay an error (the default): which one wins is ambiguous.
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        match serde_saphyr::from_str_with_options::<Option<Value>>(chunk.text, options) {
            Ok(Some(value)) => documents.push((document, value)),
            Ok(None) => {}
            Err(e) => {
                let rendered = e.render_with_formatter(&serde_saphyr::UserMessageFormatter);
                let mut error = InputError::new(file, "").in_document(document);
                let message = match e.location() {
                    Some(loc) => {
                        let line = loc.line() as usize + chunk.first_line - 1;
                        error = error.at(format!("line {line}, column {}", loc.column()));
                        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                        let message = rendered
                            .strip_suffix(&suffix)
                            .map(str::to_string)
                            .unwrap_or(rendered);
                        // A `[` or `{` left open swallows the lines after it, and the
                        // parser only notices where they stop making sense: point at the
                        // bracket, which is what needs fixing.
                        match unclosed_flow(chunk.text, loc.line() as usize) {
                            Some((open_line, column, bracket)) => {
                                let open_line = open_line + chunk.first_line - 1;
                                error.field = Some(format!("line {open_line}, column {column}"));
                                format!(
                                    "`{bracket}` is never closed (the parser stopped at line {line}, column {}: {message})",
                                    loc.column()
                                )
                            }
                            None => message,
                        }
                    }
                    None => rendered,
                };
                error.problem = one_line(&message);
                errors.push(error);
            }
        }
    }
    documents
}

/// The innermost flow collection (`[` or `{`) opened before line `before` (1-based,
/// relative to `text`) and never closed: `(line, column, bracket)`, 1-based.
///
/// A rough YAML scan, only consulted after a syntax error: a bracket counts when it
/// starts a value (line start, after `: `, `- `, `? `) or sits inside another flow, and
/// quoted scalars and comments are skipped, so `foo[0]` or `"[x"` open nothing.
fn unclosed_flow(text: &str, before: usize) -> Option<(usize, usize, char)> {
    let mut open: Vec<(usize, usize, char)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let next_is_blank = |j: usize| chars.get(j + 1).is_none_or(|c| c.is_whitespace());
        let mut value_start = true;
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match c {
                ' ' | '\t' => {}
                '#' if j == 0 || chars[j - 1].is_whitespace() => break,
                '\'' | '"' if value_start => {
                    // Skip to the closing quote (`''` is an escaped quote, `\"` too).
                    let mut k = j + 1;
                    while k < chars.len() {
                        if chars[k] == '\\' && c == '"' {
                            k += 1;
                        } else if chars[k] == c {
                            if c == '\'' && chars.get(k + 1) == Some(&'\'') {
                                k += 1;
                            } else {
                                break;
                            }
                        }
                        k += 1;
                    }
                    j = k;
                    value_start = false;
                }
                '[' | '{' if value_start || !open.is_empty() => {
                    open.push((index + 1, j + 1, c));
                    value_start = true;
                }
                ']' | '}' if !open.is_empty() => {
                    let opener = if c == ']' { '[' } else { '{' };
                    if open.last().is_some_and(|(_, _, b)| *b == opener) {
                        open.pop();
                    }
                    value_start = false;
                }
                ',' if !open.is_empty() => value_start = true,
                ':' if next_is_blank(j) => value_start = true,
                '-' | '?' if value_start && next_is_blank(j) => {}
                _ => value_start = false,
            }
            j += 1;
        }
    }
    open.into_iter().rev().find(|(line, _, _)| *line < before)
}

/// Parses a stream of JSON values. A syntax error ends the file: JSON has no separator to
/// resynchronise on.
pub(super) fn json_documents(
    text: &str,
    file: &str,
    errors: &mut Vec<InputError>,
) -> Vec<(usize, Value)> {
    let mut documents = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let document = documents.len() + 1;
        match value {
            Ok(value) => documents.push((document, value)),
            Err(e) => {
                let rendered = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = rendered.strip_suffix(&suffix).unwrap_or(&rendered);
                errors.push(
                    InputError::new(file, one_line(message))
                        .in_document(document)
                        .at(format!("line {}, column {}", e.line(), e.column())),
                );
                break;
            }
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_yaml_rule() {
        let numbers = |text: &str| -> Vec<(usize, String)> {
            split_yaml(text)
                .iter()
                .map(|c| (c.first_line, c.text.to_string()))
                .collect()
        };
        assert_eq!(numbers(""), []);
        assert_eq!(numbers("# only a comment\n"), []);
        assert_eq!(numbers("a: 1\n"), [(1, "a: 1\n".to_string())]);
        assert_eq!(numbers("---\na: 1\n"), [(1, "---\na: 1\n".to_string())]);
        assert_eq!(
            numbers("%YAML 1.2\n---\na: 1"),
            [(1, "%YAML 1.2\n---\na: 1".to_string())]
        );
        assert_eq!(
            numbers("a: 1\n---\n--- # c\nb: |\n  ---x\n...\nc: 3\n"),
            [
                (1, "a: 1\n".to_string()),
                (2, "---\n".to_string()),
                (3, "--- # c\nb: |\n  ---x\n...\n".to_string()),
                (7, "c: 3\n".to_string()),
            ]
        );
        assert!(!is_marker("----\n", "---"));
        assert!(is_marker("---\r\n", "---"));
    }

    #[test]
    fn the_unclosed_bracket_scan_ignores_quotes_comments_and_plain_scalars() {
        assert_eq!(unclosed_flow("a: [x, y\nb: 1\n", 2), Some((1, 4, '[')));
        assert_eq!(unclosed_flow("a: {x: [1, 2]\nb: 1\n", 2), Some((1, 4, '{')));
        // Closed on a later line: a multi-line flow is fine.
        assert_eq!(unclosed_flow("a: [x,\n  y]\nb: [\n", 3), None);
        assert_eq!(
            unclosed_flow("a: \"[x\"\nb: 'it''s [' # [\nc: foo[0]\n", 4),
            None
        );
        // Only brackets opened before the error line count.
        assert_eq!(unclosed_flow("a: 1\nb: [x\n", 2), None);
    }
}

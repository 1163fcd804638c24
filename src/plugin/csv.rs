//! Just enough CSV (RFC 4180) for import and export files: quoted fields
//! with doubled quotes and line breaks inside, CRLF or LF, a UTF-8 BOM
//! ignored, blank lines skipped. Each record keeps the line it starts on, so
//! an error can point a moderator at the line their editor shows.

/// One record and the line (from 1) it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A file that is not CSV at all (an unclosed quote, text after a closing quote).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut record_line = 1;
    // Whether the current record has anything, even an empty quoted field.
    let mut started = false;
    let mut quoted = false;
    let mut after_quote = false;
    let mut quote_line = 1;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    after_quote = true;
                }
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                other => field.push(other),
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() && !after_quote => {
                if !started {
                    record_line = line;
                }
                quoted = true;
                started = true;
                quote_line = line;
            }
            ',' => {
                if !started {
                    record_line = line;
                }
                started = true;
                fields.push(std::mem::take(&mut field));
                after_quote = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if started || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    records.push(Record {
                        line: record_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                started = false;
                after_quote = false;
                line += 1;
            }
            other if after_quote => {
                return Err(CsvError {
                    line,
                    message: format!(
                        "{other:?} after a closing quote; a quote inside a quoted field is written \"\""
                    ),
                });
            }
            other => {
                if !started {
                    record_line = line;
                }
                started = true;
                field.push(other);
            }
        }
    }
    if quoted {
        return Err(CsvError {
            line: quote_line,
            message: "a quoted field is never closed".to_string(),
        });
    }
    if started || !field.is_empty() {
        fields.push(field);
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// One CSV line (with its newline), quoting the fields that need it.
pub fn write_record<S: AsRef<str>>(fields: &[S]) -> String {
    let cells: Vec<String> = fields
        .iter()
        .map(|field| {
            let field = field.as_ref();
            let needs_quotes = field.contains([',', '"', '\n', '\r'])
                || field.starts_with(' ')
                || field.ends_with(' ');
            if needs_quotes {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.to_string()
            }
        })
        .collect();
    let mut line = cells.join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(records: &[Record]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn quotes_commas_and_line_breaks_inside_fields() {
        let text = "a,b,c\r\n1,\"x, \"\"y\"\"\",\"two\nlines\"\n\n2,,\n";
        let records = parse(text).unwrap();
        assert_eq!(
            fields(&records),
            [
                vec!["a", "b", "c"],
                vec!["1", "x, \"y\"", "two\nlines"],
                vec!["2", "", ""],
            ]
        );
        let lines: Vec<usize> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 5], "a record keeps the line it starts on");
    }

    #[test]
    fn a_bom_and_a_missing_final_newline_are_fine() {
        let records = parse("\u{feff}a,b\n1,2").unwrap();
        assert_eq!(fields(&records), [vec!["a", "b"], vec!["1", "2"]]);
    }

    #[test]
    fn broken_quoting_is_an_error_with_its_line() {
        assert_eq!(parse("a\n\"open\n").unwrap_err().line, 2);
        assert_eq!(parse("a\n\"x\"y\n").unwrap_err().line, 2);
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(rows in proptest::collection::vec(
            proptest::collection::vec("[a-z ,\"\n;=]{0,8}", 3), 1..5)
        ) {
            let text: String = rows.iter().map(|r| write_record(r)).collect();
            let read = parse(&text).unwrap();
            let read: Vec<Vec<String>> = read.into_iter().map(|r| r.fields).collect();
            prop_assert_eq!(read, rows);
        }
    }
}

//! Printing rows of data as an aligned table, JSON Lines or CSV.
//!
//! Every data-printing command builds a `Rows` (column names plus JSON values) and
//! hands it here, so the three formats agree on columns and values. JSON output keeps
//! the values' types; table and CSV show them as text (null as empty).

use std::io::{self, Write};

use serde_json::{Map, Value};

use crate::cli::Format;

/// A result set: ordered columns and rows of JSON values.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn new(columns: &[&str]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Rows as JSON objects with the columns as keys, in column order.
    pub fn objects(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect::<Map<String, Value>>()
            })
            .collect()
    }

    /// Writes the rows to `out` in `format`.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => {
                // Written by hand so keys keep column order (serde_json's Map sorts them).
                for row in &self.rows {
                    out.write_all(b"{")?;
                    for (i, (col, v)) in self.columns.iter().zip(row).enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        serde_json::to_writer(&mut *out, col)?;
                        out.write_all(b":")?;
                        serde_json::to_writer(&mut *out, v)?;
                    }
                    out.write_all(b"}\n")?;
                }
            }
            Format::Csv => {
                let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
                writeln!(out, "{}", header.join(","))?;
                for row in &self.rows {
                    let cells: Vec<String> = row.iter().map(|v| csv_field(&cell(v))).collect();
                    writeln!(out, "{}", cells.join(","))?;
                }
            }
            Format::Table => self.write_table(out)?,
        }
        out.flush()
    }

    /// Prints to stdout.
    pub fn print(&self, format: Format) -> io::Result<()> {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        self.write(format, &mut lock)
    }

    fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        const MAX_CELL: usize = 60;
        let text: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|v| truncate(&cell(v), MAX_CELL)).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &text {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .all(|r| matches!(r.get(i), Some(Value::Number(_)) | Some(Value::Null)))
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = widths[i].saturating_sub(c.chars().count());
                if numeric[i] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < cells.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.trim_end().to_string()
        };
        writeln!(out, "{}", line(&self.columns))?;
        for row in &text {
            writeln!(out, "{}", line(row))?;
        }
        Ok(())
    }
}

/// A value as plain text: strings unquoted, null empty, numbers as written,
/// floats with at most 4 decimals.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => {
                let s = format!("{f:.4}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                s.to_string()
            }
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Rows {
        let mut r = Rows::new(&["name", "n", "note"]);
        r.rows.push(vec![json!("a,b"), json!(3), Value::Null]);
        r.rows
            .push(vec![json!("c"), json!(1.5), json!("say \"hi\"")]);
        r
    }

    fn render(format: Format) -> String {
        let mut buf = Vec::new();
        sample().write(format, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_lines_keep_types_and_order() {
        assert_eq!(
            render(Format::Json),
            "{\"name\":\"a,b\",\"n\":3,\"note\":null}\n{\"name\":\"c\",\"n\":1.5,\"note\":\"say \\\"hi\\\"\"}\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            render(Format::Csv),
            "name,n,note\n\"a,b\",3,\n c,1.5,\"say \"\"hi\"\"\"\n".replace("\n c", "\nc")
        );
    }

    #[test]
    fn table_aligns_numbers_right() {
        let t = render(Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "name    n  note");
        assert_eq!(lines[1], "a,b     3");
        assert_eq!(lines[2], "c     1.5  say \"hi\"");
    }
}

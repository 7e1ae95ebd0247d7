//! Printing rows of data: a table for people, JSON Lines or CSV for programs.
//!
//! Every data-printing command builds a `Rows` (column names plus JSON values) and
//! hands it here, so the three formats agree on columns and values. JSON and CSV are
//! complete and exact (every row, every column, raw values; CSV by the `csv` crate).
//! The table is for people (`comfy-table`): durations (`*_ms` columns) read `4m12s`,
//! times read `2026-11-01 03:00:00Z (3h ago)`, long cells are cut, the columns that
//! fit the terminal are shown (`--wide`: all), and at most `DEFAULT_LIMIT` rows unless
//! `--limit` says otherwise, with a note on standard error about what was left out.

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use serde_json::{Map, Value};

use crate::cli::Format;
use crate::model::Millis;

/// Rows a table shows when no `--limit` is given.
pub const DEFAULT_LIMIT: usize = 50;

/// Longest cell a fitted table shows before cutting it with `…`.
const MAX_CELL: usize = 48;

/// A result set: ordered columns and rows of JSON values.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// How a table is shown to people.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Every column, uncut.
    pub wide: bool,
    /// `--limit` was given: the rows are already what the user asked for.
    pub limited: bool,
    /// The width to fit; None: do not fit (not a terminal and no `$COLUMNS`).
    pub width: Option<usize>,
    /// The time relative hints are counted from.
    pub now: Millis,
}

impl View {
    /// The view for this process: the terminal's width (or `$COLUMNS`), the wall clock.
    pub fn detect(wide: bool, limited: bool) -> View {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|w| *w > 0)
            .or_else(|| Table::new().width().map(usize::from));
        View {
            wide,
            limited,
            width,
            now: crate::time::now_ms(),
        }
    }
}

/// What a table left out, for the note on standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omitted {
    pub rows: usize,
    pub columns: usize,
}

impl Omitted {
    /// The note for people, or None when nothing was left out.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.rows > 0 {
            parts.push(format!(
                "{} more rows; use --limit N to see more",
                self.rows
            ));
        }
        if self.columns > 0 {
            parts.push(format!(
                "{} columns hidden to fit the terminal; use --wide for all",
                self.columns
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(format!(
                "({}; --format json or csv prints everything)",
                parts.join("; ")
            ))
        }
    }
}

impl Rows {
    pub fn new(columns: &[&str]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// The same rows with `first` (those that exist) moved to the front, in that
    /// order: a table that must drop columns to fit keeps the ones people need.
    pub fn prefer(&self, first: &[&str]) -> Rows {
        let mut order: Vec<usize> = first
            .iter()
            .filter_map(|f| self.columns.iter().position(|c| c == f))
            .collect();
        let rest: Vec<usize> = (0..self.columns.len())
            .filter(|i| !order.contains(i))
            .collect();
        order.extend(rest);
        Rows {
            columns: order.iter().map(|&i| self.columns[i].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| order.iter().map(|&i| r[i].clone()).collect())
                .collect(),
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

    /// Writes every row to `out` in `format` (a table: all rows and columns).
    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        let view = View {
            wide: true,
            limited: true,
            width: None,
            now: crate::time::now_ms(),
        };
        self.write_view(format, &view, out).map(|_| ())
    }

    /// Writes to `out`; a table follows `view`. Returns what the table left out.
    pub fn write_view(
        &self,
        format: Format,
        view: &View,
        out: &mut dyn Write,
    ) -> io::Result<Omitted> {
        let mut omitted = Omitted::default();
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
                let mut w = csv::Writer::from_writer(&mut *out);
                w.write_record(&self.columns).map_err(io::Error::other)?;
                for row in &self.rows {
                    w.write_record(row.iter().map(cell))
                        .map_err(io::Error::other)?;
                }
                w.flush()?;
            }
            Format::Table => omitted = self.write_table(view, out)?,
        }
        out.flush()?;
        Ok(omitted)
    }

    /// Prints every row to stdout.
    pub fn print(&self, format: Format) -> io::Result<()> {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        self.write(format, &mut lock)
    }

    /// Prints to stdout for people at a terminal or in cron mail: a table follows
    /// `view`, and what it left out is said on standard error.
    pub fn print_view(&self, format: Format, view: &View) -> io::Result<()> {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        let omitted = self.write_view(format, view, &mut lock)?;
        if let Some(note) = omitted.note() {
            eprintln!("{note}");
        }
        Ok(())
    }

    fn write_table(&self, view: &View, out: &mut dyn Write) -> io::Result<Omitted> {
        let shown_rows = if view.limited {
            self.rows.len()
        } else {
            self.rows.len().min(DEFAULT_LIMIT)
        };
        let max_cell = if view.wide { usize::MAX } else { MAX_CELL };
        let text: Vec<Vec<String>> = self.rows[..shown_rows]
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&self.columns)
                    .map(|(v, c)| truncate(&human(c, v, view.now), max_cell))
                    .collect()
            })
            .collect();
        // Columns in order, as many as fit (two spaces between columns).
        let mut ncols = self.columns.len();
        if let (false, Some(width)) = (view.wide, view.width) {
            let mut used = 0;
            for (i, c) in self.columns.iter().enumerate() {
                let w = text
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(0);
                let need = if i == 0 { w } else { w + 2 };
                if i > 0 && used + need > width {
                    ncols = i;
                    break;
                }
                used += need;
            }
        }
        let mut table = Table::new();
        table
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(&self.columns[..ncols]);
        for row in &text {
            table.add_row(&row[..ncols]);
        }
        for i in 0..ncols {
            let numeric = self.rows.iter().all(|r| {
                matches!(r.get(i), Some(Value::Number(_)) | Some(Value::Null))
                    && !self.columns[i].ends_with("_ms")
            });
            if let Some(col) = table.column_mut(i) {
                col.set_padding((0, 2));
                if numeric {
                    col.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        for line in table.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(Omitted {
            rows: self.rows.len() - shown_rows,
            columns: self.columns.len() - ncols,
        })
    }
}

/// A value for people: `*_ms` numbers as durations, RFC 3339 times in `*_at` columns
/// as UTC with a relative hint, everything else as `cell` writes it.
pub fn human(column: &str, v: &Value, now: Millis) -> String {
    if column.ends_with("_ms")
        && let Some(ms) = v.as_f64()
    {
        return crate::time::format_duration(ms.round() as i64);
    }
    if (column.ends_with("_at") || column == "timestamp")
        && let Some(t) = v.as_str().and_then(crate::time::parse_rfc3339)
    {
        return format!("{} ({})", short_time(t), crate::time::relative(t, now));
    }
    cell(v)
}

/// `2026-11-01 03:00:00Z`: to the second, UTC.
fn short_time(t: Millis) -> String {
    let full = crate::time::format_ms(t);
    match full.get(..19) {
        Some(head) => format!("{}Z", head.replace('T', " ")),
        None => full,
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
            "name,n,note\n\"a,b\",3,\nc,1.5,\"say \"\"hi\"\"\"\n"
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

    fn runs(n: usize) -> Rows {
        let mut r = Rows::new(&["pipeline_id", "duration_ms", "started_at", "a_long_column"]);
        for i in 0..n {
            r.rows.push(vec![
                json!(format!("p{i}")),
                json!(252_000),
                json!("2026-11-01T00:00:00.000Z"),
                json!("x".repeat(30)),
            ]);
        }
        r
    }

    fn view(width: Option<usize>, wide: bool, limited: bool) -> View {
        View {
            wide,
            limited,
            width,
            now: crate::time::parse_rfc3339("2026-11-01T03:00:00Z").unwrap(),
        }
    }

    #[test]
    fn tables_are_for_people() {
        let mut buf = Vec::new();
        let omitted = runs(60)
            .write_view(Format::Table, &view(Some(60), false, false), &mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + DEFAULT_LIMIT);
        assert_eq!(lines[0], "pipeline_id  duration_ms  started_at");
        assert_eq!(
            lines[1],
            "p0           4m12s        2026-11-01 00:00:00Z (3h ago)"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{text}");
        assert_eq!(
            omitted,
            Omitted {
                rows: 10,
                columns: 1
            }
        );
        let note = omitted.note().unwrap();
        assert!(note.contains("10 more rows; use --limit"), "{note}");
        assert!(note.contains("use --wide"), "{note}");
    }

    #[test]
    fn wide_and_limited_tables_show_everything() {
        let mut buf = Vec::new();
        let omitted = runs(60)
            .write_view(Format::Table, &view(Some(60), true, true), &mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 61);
        assert!(text.lines().next().unwrap().ends_with("a_long_column"));
        assert_eq!(omitted, Omitted::default());
        assert_eq!(omitted.note(), None);
    }

    #[test]
    fn csv_and_json_are_complete_and_raw() {
        let rows = runs(60);
        let mut buf = Vec::new();
        rows.write_view(Format::Csv, &view(Some(20), false, false), &mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 61);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("p0,252000,2026-11-01T00:00:00.000Z,{}", "x".repeat(30))
        );
        let mut buf = Vec::new();
        rows.write_view(Format::Json, &view(Some(20), false, false), &mut buf)
            .unwrap();
        assert_eq!(String::from_utf8(buf).unwrap().lines().count(), 60);
    }
}

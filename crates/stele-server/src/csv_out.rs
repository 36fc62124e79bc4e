//! The one way Stele writes CSV (the export route and `stele query --format csv`).
//!
//! Event fields are attacker-controlled text, and a spreadsheet opening a CSV runs a cell
//! that starts with `=`, `+`, `-`, `@`, tab or carriage return as a formula (CSV injection,
//! "formula injection"). Following OWASP's CSV Injection guidance, such a cell is written
//! with a leading `'`, which spreadsheets show as text; the `csv` crate still quotes cells
//! holding separators, quotes or line breaks. [`CsvWriter`] only accepts rows through
//! [`CsvWriter::write_row`], which neutralises every cell, so no writer can forget it.

use std::borrow::Cow;
use std::io::Write;

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as written: prefixed with `'` when it would start a formula, else unchanged.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV writer whose every cell passes [`neutralise`].
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        Self(csv::Writer::from_writer(out))
    }

    /// Writes one row.
    pub fn write_row<I, S>(&mut self, cells: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<S> = cells.into_iter().collect();
        self.0.write_record(cells.iter().map(|c| neutralise(c.as_ref()).into_owned()))
    }

    /// Flushes and returns the output.
    pub fn into_inner(self) -> Result<W, csv::Error> {
        self.0.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_prefixed_and_plain_cells_kept() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        assert_eq!(neutralise("user.created"), "user.created");
        assert_eq!(neutralise(""), "");
        let mut w = CsvWriter::new(Vec::new());
        w.write_row(["=HYPERLINK(\"x\",\"y\")", "a,b", "plain"]).expect("write");
        let text = String::from_utf8(w.into_inner().expect("flush")).expect("utf8");
        assert_eq!(text, "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",\"a,b\",plain\n");
    }
}

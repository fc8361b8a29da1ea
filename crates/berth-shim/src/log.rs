//! The container's log: Docker's json-file format (one [`crate::LogEntry`] per line), with
//! `max-size`/`max-file` rotation.

use std::io::Write;
use std::path::PathBuf;

use crate::Error;

/// The json-file log with Docker's rotation (`max-size`, `max-file`): when the file reaches
/// the size, `log.N-1` → `log.N`, …, `log` → `log.1`, and a new `log` starts.
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

impl LogWriter {
    pub(crate) fn open(
        path: PathBuf,
        max_size: Option<u64>,
        max_file: u32,
    ) -> Result<LogWriter, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::Io(format!("open {}", path.display()), e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            path,
            file,
            size,
            max_size,
            max_file: max_file.max(1),
        })
    }

    pub(crate) fn write(&mut self, entry: &[u8]) {
        let _ = self.file.write_all(entry);
        self.size += entry.len() as u64;
        if self.max_size.is_some_and(|m| self.size >= m) {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_file <= 1 {
            // Only one file: start it again.
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        let _ = std::fs::remove_file(name(self.max_file - 1));
        for n in (1..self.max_file - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}

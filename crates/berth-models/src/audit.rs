//! `berth audit`: the CIS Docker Benchmark's checks that apply to Berth
//! (`GET /audit/checks`, a Berth extension), in the shape `berth audit --format json` prints.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

/// One check: its CIS-style ID and level, the result, what was seen, how to fix it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub level: u8,
    pub title: String,
    /// `pass`, `fail`, `warn` (judgement needed), `info`, or `skip` (does not apply here).
    pub result: String,
    pub evidence: String,
    pub remediation: String,
}

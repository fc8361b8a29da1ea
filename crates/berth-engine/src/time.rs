//! Times as the Engine API carries them (from `berth-units`).

pub use berth_units::*;

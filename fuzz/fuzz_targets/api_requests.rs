//! The daemon's request parsers and what the engine derives from a request before touching
//! the host: a create body (JSON → `CreateRequest` → the OCI spec its HostConfig makes) and a
//! `filters` query value. Nothing may panic; errors are the daemon's 400s.
#![no_main]

use berth_engine::containers::Defaults;
use berth_engine::containers::bundle::Spec;
use berth_engine::containers::host_config::apply;
use berth_models::container::CreateRequest;
use berth_models::filters::Filters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 2 {
        0 => {
            if let Ok(req) = serde_json::from_slice::<CreateRequest>(rest) {
                let hc = req.host_config.unwrap_or_default();
                let mut spec = Spec::default_spec();
                let _ = apply(&mut spec, &hc, &Defaults::default());
                let _ = serde_json::to_vec(&req.config);
            }
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(rest) {
                if let Ok(f) = Filters::parse(Some(s)) {
                    let _ = f.check(&["label", "name", "status"]);
                    let _ = f.to_json();
                }
            }
        }
    }
});

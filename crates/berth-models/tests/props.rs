//! Properties of the request parsers over generated input (proptest): a `filters` value any
//! client sends is read back as it was meant, and no string makes the parser panic.

use berth_models::Filters;
use proptest::prelude::*;

proptest! {
    /// The set form a client writes (`to_json`) reads back to the same keys and values
    /// (a set: sorted, once each), whatever characters they hold.
    #[test]
    fn filters_round_trip(m in prop::collection::btree_map(".{0,12}", prop::collection::vec(".{0,12}", 0..4), 0..5)) {
        let f = Filters(m);
        let back = Filters::parse(Some(&f.to_json())).expect("its own JSON parses");
        let want: Vec<(String, Vec<String>)> = f.0.iter().map(|(k, vs)| {
            let mut vs = vs.clone();
            vs.sort();
            vs.dedup();
            (k.clone(), vs)
        }).collect();
        let got: Vec<(String, Vec<String>)> = back.0.into_iter().collect();
        prop_assert_eq!(got, want);
    }

    /// The list form reads as given, order and all.
    #[test]
    fn filters_list_form(m in prop::collection::btree_map("[a-z]{1,8}", prop::collection::vec(".{0,12}", 0..4), 0..5)) {
        let json = serde_json::to_string(&m).expect("json");
        prop_assert_eq!(Filters::parse(Some(&json)).expect("parses").0, m);
    }

    /// Anything else is an error that says `invalid filter`, never a panic.
    #[test]
    fn filters_never_panic(s in ".{0,64}") {
        if let Err(e) = Filters::parse(Some(&s)) {
            prop_assert!(e.to_string().starts_with("invalid filter"), "{}", e);
        }
    }
}

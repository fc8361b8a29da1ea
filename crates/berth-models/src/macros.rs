//! `wire!`: a struct of the API with dockerd's conventions: PascalCase names (fields that
//! differ say `#[serde(rename = …)]`), every field defaulted when absent and when `null`.

macro_rules! wire {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, deserialize_with = "crate::de::nullable")]
                pub $f: $t,
            )*
        }
    };
}

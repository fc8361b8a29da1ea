//! A Compose file's YAML: anchors and aliases resolved, `<<` merge keys applied (a mapping or a
//! list of mappings; the mapping's own keys win), the top level a mapping.

use serde_yaml_ng::Value;

use crate::Error;

/// Parse `text` (named `file` in errors) into its document.
pub fn load(text: &str, file: &str) -> Result<Value, Error> {
    let err = |message: String| Error::Yaml {
        file: file.to_owned(),
        message,
    };
    let mut v: Value = serde_yaml_ng::from_str(text).map_err(|e| err(e.to_string()))?;
    v.apply_merge().map_err(|e| err(e.to_string()))?;
    match v {
        Value::Mapping(_) => Ok(v),
        // An empty file is an empty project.
        Value::Null => Ok(Value::Mapping(Default::default())),
        _ => Err(err("Top-level object must be a mapping".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = load(
            r#"
x-base: &base
  image: busybox
  environment: {A: "1"}
  restart: always
x-more: &more
  labels: [l1]
services:
  web:
    <<: *base
    restart: "no"
  worker:
    <<: [*base, *more]
    command: *base
"#,
            "compose.yaml",
        )
        .expect("load");
        let web = &v["services"]["web"];
        assert_eq!(web["image"], "busybox");
        // The mapping's own key wins over the merged one.
        assert_eq!(web["restart"], "no");
        assert!(web.get("<<").is_none());
        let worker = &v["services"]["worker"];
        assert_eq!(worker["labels"][0], "l1");
        assert_eq!(worker["environment"]["A"], "1");
        assert_eq!(worker["command"]["image"], "busybox");
    }

    #[test]
    fn errors_name_the_file() {
        let e = load("services: [", "bad.yaml").expect_err("bad");
        assert!(e.to_string().starts_with("bad.yaml: "), "{e}");
        let e = load("- a\n- b\n", "list.yaml").expect_err("not a mapping");
        assert_eq!(
            e.to_string(),
            "list.yaml: Top-level object must be a mapping"
        );
        assert!(
            load("", "empty.yaml")
                .expect("empty")
                .as_mapping()
                .is_some()
        );
    }
}

//! Several Compose files as one (`-f a.yaml -f b.yaml`, and `extends`): the later document
//! over the earlier one with the compose-spec's rules — mappings merge key by key; a
//! service's `command`, `entrypoint` and other scalars and lists are replaced; `environment`,
//! `labels`, build `args`, `networks` and `depends_on` merge by key whatever syntax each side
//! uses; `ports` are appended (duplicates dropped); `volumes` merge by target path and
//! `secrets`/`configs` by source; `expose`, `dns`, `tmpfs`, `profiles`, capabilities and the
//! like are appended without duplicates.

use serde_yaml_ng::{Mapping, Value};

/// Merge the document `over` into `base`.
pub fn documents(base: &mut Value, over: Value) {
    let (Value::Mapping(b), Value::Mapping(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        let key = k.as_str().unwrap_or_default().to_owned();
        match (key.as_str(), b.get_mut(&k)) {
            ("services", Some(Value::Mapping(bs))) => {
                if let Value::Mapping(os) = v {
                    for (name, svc) in os {
                        match bs.get_mut(&name) {
                            Some(existing) => service(existing, svc),
                            None => {
                                bs.insert(name, svc);
                            }
                        }
                    }
                }
            }
            (_, Some(slot)) => deep(slot, v),
            (_, None) => {
                b.insert(k, v);
            }
        }
    }
}

/// Mappings merge recursively; anything else is replaced.
fn deep(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => deep(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One service over another.
pub fn service(base: &mut Value, over: Value) {
    let (Value::Mapping(b), Value::Mapping(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        let key = k.as_str().unwrap_or_default().to_owned();
        let Some(slot) = b.get_mut(&k) else {
            b.insert(k, v);
            continue;
        };
        match key.as_str() {
            "command" | "entrypoint" => *slot = v,
            "environment" | "labels" | "annotations" => {
                *slot = keyed(slot, '=');
                deep(slot, keyed(&v, '='));
            }
            "networks" | "depends_on" => {
                *slot = keyed(slot, '\0');
                deep(slot, keyed(&v, '\0'));
            }
            "build" => {
                if let (Value::Mapping(bb), Value::Mapping(ob)) = (&mut *slot, &v) {
                    for (bk, bv) in ob {
                        match (bk.as_str(), bb.get_mut(bk)) {
                            (Some("args"), Some(args)) => {
                                *args = keyed(args, '=');
                                deep(args, keyed(bv, '='));
                            }
                            (_, Some(s)) => deep(s, bv.clone()),
                            (_, None) => {
                                bb.insert(bk.clone(), bv.clone());
                            }
                        }
                    }
                } else {
                    *slot = v;
                }
            }
            "ports" => append(slot, v, |x| Some(x.clone())),
            "volumes" => append(slot, v, volume_target),
            "secrets" | "configs" => append(slot, v, source_of),
            "expose" | "dns" | "dns_search" | "dns_opt" | "tmpfs" | "profiles" | "cap_add"
            | "cap_drop" | "security_opt" | "devices" | "extra_hosts" | "external_links"
            | "group_add" | "volumes_from" | "env_file" | "links" => {
                append(slot, v, |x| Some(x.clone()))
            }
            _ => deep(slot, v),
        }
    }
}

/// A list (`K=V`, or names when `sep` is NUL) or a mapping, as a mapping.
fn keyed(v: &Value, sep: char) -> Value {
    match v {
        Value::Sequence(items) => {
            let mut m = Mapping::new();
            for i in items {
                let s = match i {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                match s.split_once(sep) {
                    Some((k, val)) => m.insert(Value::String(k.into()), Value::String(val.into())),
                    None => m.insert(Value::String(s), Value::Null),
                };
            }
            Value::Mapping(m)
        }
        other => other.clone(),
    }
}

/// `base` followed by `over`'s items; an item whose key (`key_of`) is already there replaces
/// it in place.
fn append(base: &mut Value, over: Value, key_of: impl Fn(&Value) -> Option<Value>) {
    let over = match over {
        Value::Sequence(s) => s,
        other => vec![other],
    };
    let Value::Sequence(b) = base else {
        *base = Value::Sequence(over);
        return;
    };
    for item in over {
        let k = key_of(&item);
        match b.iter().position(|x| k.is_some() && key_of(x) == k) {
            Some(i) => b[i] = item,
            None => b.push(item),
        }
    }
}

/// The container path a volume entry mounts on (short `src:dst[:mode]` or long `target`).
fn volume_target(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let t = if parts.len() >= 2 { parts[1] } else { parts[0] };
            Some(Value::String(t.to_owned()))
        }
        Value::Mapping(m) => m.get("target").cloned(),
        _ => None,
    }
}

fn source_of(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) => Some(v.clone()),
        Value::Mapping(m) => m.get("source").cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml_ng::from_str(s).expect("yaml")
    }

    #[test]
    fn services_merge_by_the_spec() {
        let mut base = y(r#"
services:
  web:
    image: a
    command: one two
    environment: {A: "1", B: "2"}
    ports: ["80:80", "90:90"]
    volumes: ["./x:/x", "v:/v"]
    expose: ["1"]
    labels: [l1=a]
    depends_on: [db]
    networks: [n1]
    build: {context: ., args: [X=1]}
volumes: {v: {}}
"#);
        documents(
            &mut base,
            y(r#"
services:
  web:
    image: b
    command: [three]
    environment: [B=3, C=4]
    ports: ["80:80", "91:91"]
    volumes: ["./y:/x", "w:/w"]
    expose: ["1", "2"]
    labels: {l2: b}
    networks: [n2]
    depends_on: {db: {condition: service_healthy}}
    build: {args: {Y: "2"}}
  db:
    image: d
volumes: {w: {}}
"#),
        );
        let want = y(r#"
services:
  web:
    image: b
    command: [three]
    environment: {A: "1", B: "3", C: "4"}
    ports: ["80:80", "90:90", "91:91"]
    volumes: ["./y:/x", "v:/v", "w:/w"]
    expose: ["1", "2"]
    labels: {l1: a, l2: b}
    depends_on: {db: {condition: service_healthy}}
    networks: {n1: null, n2: null}
    build: {context: ., args: {X: "1", Y: "2"}}
  db:
    image: d
volumes: {v: {}, w: {}}
"#);
        assert_eq!(base, want);
    }
}

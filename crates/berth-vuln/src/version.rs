//! Each ecosystem's version ordering: dpkg's (epochs, `~` before everything), apk's, rpm's
//! (`rpmvercmp`, `~` and `^`), PEP 440's, and semver's (also Go's `v`-prefixed and crates.io's).

use std::cmp::Ordering;

/// How an ecosystem orders its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Dpkg,
    Apk,
    Rpm,
    Pep440,
    Semver,
    Maven,
}

pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg(a, b),
        Scheme::Apk => apk(a, b),
        Scheme::Rpm => rpm(a, b),
        Scheme::Pep440 => pep440(a, b),
        Scheme::Semver => semver(a, b),
        Scheme::Maven => maven(a, b),
    }
}

// ---- dpkg (Debian Policy 5.6.12) ----

fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = dpkg_order(a.get(i).copied());
            let bc = dpkg_order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

fn dpkg_split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

pub fn dpkg(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = dpkg_split(a);
    let (eb, ub, rb) = dpkg_split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

// ---- rpm (rpmvercmp) ----

fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && !a[i].is_ascii_alphanumeric() && a[i] != b'~' && a[i] != b'^' {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() && b[j] != b'~' && b[j] != b'^' {
            j += 1;
        }
        let (ta, tb) = (a.get(i).copied(), b.get(j).copied());
        if ta == Some(b'~') || tb == Some(b'~') {
            if ta != Some(b'~') {
                return Ordering::Greater;
            }
            if tb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ta == Some(b'^') || tb == Some(b'^') {
            if ta.is_none() {
                return Ordering::Less;
            }
            if tb.is_none() {
                return Ordering::Greater;
            }
            if ta != Some(b'^') {
                return Ordering::Greater;
            }
            if tb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ta.is_none() || tb.is_none() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let take = |s: &[u8], mut k: usize| {
            let start = k;
            while k < s.len()
                && (if numeric {
                    s[k].is_ascii_digit()
                } else {
                    s[k].is_ascii_alphabetic()
                })
            {
                k += 1;
            }
            (start, k)
        };
        let (sa, ea) = take(a, i);
        let (sb, eb) = take(b, j);
        if sb == eb {
            // Different kinds of segment: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut x, mut y) = (&a[sa..ea], &b[sb..eb]);
        if numeric {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            let c = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if c != Ordering::Equal {
                return c;
            }
        } else {
            let c = x.cmp(y);
            if c != Ordering::Equal {
                return c;
            }
        }
        i = ea;
        j = eb;
    }
    (a.len() - i.min(a.len())).cmp(&(b.len() - j.min(b.len())))
}

pub fn rpm(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (u64, String, String) {
        let (e, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((ver, rel)) => (e, ver.to_owned(), rel.to_owned()),
            None => (e, rest.to_owned(), String::new()),
        }
    };
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb).then_with(|| rpmvercmp(&va, &vb)).then_with(|| {
        if ra.is_empty() || rb.is_empty() {
            Ordering::Equal
        } else {
            rpmvercmp(&ra, &rb)
        }
    })
}

// ---- apk ----

/// apk's tokens: numbers (dotted), a letter, `_suffix[N]`, `-rN`.
fn apk_key(v: &str) -> (Vec<u64>, i64, Vec<(i32, u64)>, u64) {
    let (body, rel) = match v.rsplit_once("-r") {
        Some((b, r)) if r.chars().all(|c| c.is_ascii_digit()) => (b, r.parse().unwrap_or(0)),
        _ => (v, 0),
    };
    let (core, suffixes) = match body.split_once('_') {
        Some((c, s)) => (c, s),
        None => (body, ""),
    };
    let mut nums = Vec::new();
    let mut letter = -1i64;
    for part in core.split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        nums.push(digits.parse().unwrap_or(0));
        if let Some(c) = part.chars().find(|c| c.is_ascii_alphabetic()) {
            letter = i64::from(c as u8);
        }
    }
    let mut sfx = Vec::new();
    for s in suffixes.split('_').filter(|s| !s.is_empty()) {
        let name: String = s.chars().take_while(char::is_ascii_alphabetic).collect();
        let n: u64 = s[name.len()..].parse().unwrap_or(0);
        let rank = match name.as_str() {
            "alpha" => -4,
            "beta" => -3,
            "pre" => -2,
            "rc" => -1,
            "cvs" | "svn" | "git" | "hg" => 1,
            "p" => 2,
            _ => 0,
        };
        sfx.push((rank, n));
    }
    (nums, letter, sfx, rel)
}

pub fn apk(a: &str, b: &str) -> Ordering {
    let (na, la, sa, ra) = apk_key(a);
    let (nb, lb, sb, rb) = apk_key(b);
    let len = na.len().max(nb.len());
    for k in 0..len {
        let c = na
            .get(k)
            .copied()
            .unwrap_or(0)
            .cmp(&nb.get(k).copied().unwrap_or(0));
        if c != Ordering::Equal {
            return c;
        }
    }
    la.cmp(&lb)
        .then_with(|| {
            let len = sa.len().max(sb.len());
            for k in 0..len {
                let c = sa
                    .get(k)
                    .copied()
                    .unwrap_or((0, 0))
                    .cmp(&sb.get(k).copied().unwrap_or((0, 0)));
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        })
        .then_with(|| ra.cmp(&rb))
}

// ---- PEP 440 ----

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (0 dev-only marker, 1 a, 2 b, 3 rc, 4 final), number.
    pre: (u8, u64),
    post: Option<u64>,
    dev: Option<u64>,
}

fn pep440_parse(v: &str) -> Pep440 {
    let v = v.trim().to_lowercase();
    let v = v.trim_start_matches('v');
    let v = v.split('+').next().unwrap_or(v);
    let (epoch, rest) = match v.split_once('!') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, v),
    };
    let rel_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut release: Vec<u64> = rest[..rel_end]
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let tail = rest[rel_end..].replace(['-', '_'], ".");
    let num_after = |s: &str, key: &str| -> Option<u64> {
        let i = s.find(key)?;
        let digits: String = s[i + key.len()..]
            .trim_start_matches('.')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(digits.parse().unwrap_or(0))
    };
    let dev = num_after(&tail, "dev");
    let post = num_after(&tail, "post")
        .or_else(|| num_after(&tail, "rev"))
        .or_else(|| num_after(&tail, ".r"));
    let pre = [
        ("rc", 3),
        ("c", 3),
        ("b", 2),
        ("beta", 2),
        ("a", 1),
        ("alpha", 1),
    ]
    .iter()
    .filter(|_| !tail.starts_with(".post") && !tail.starts_with(".dev"))
    .find_map(|(k, rank)| {
        let t = tail.trim_start_matches('.');
        t.strip_prefix(k)
            .filter(|r| r.is_empty() || r.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
            .map(|r| {
                let digits: String = r
                    .trim_start_matches('.')
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                (*rank, digits.parse().unwrap_or(0))
            })
    });
    let pre = match (pre, post, dev) {
        (Some(p), _, _) => p,
        // A dev release of the final comes before its pre-releases.
        (None, None, Some(_)) => (0, 0),
        _ => (4, 0),
    };
    Pep440 {
        epoch,
        release,
        pre,
        post,
        dev,
    }
}

pub fn pep440(a: &str, b: &str) -> Ordering {
    let (x, y) = (pep440_parse(a), pep440_parse(b));
    let dev_key = |d: Option<u64>| d.map_or((1, 0), |n| (0, n));
    x.epoch
        .cmp(&y.epoch)
        .then_with(|| {
            let len = x.release.len().max(y.release.len());
            (0..len)
                .map(|k| {
                    x.release
                        .get(k)
                        .unwrap_or(&0)
                        .cmp(y.release.get(k).unwrap_or(&0))
                })
                .find(|c| *c != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        })
        .then_with(|| x.pre.cmp(&y.pre))
        .then_with(|| {
            x.post
                .map_or(-1, |p| p as i128)
                .cmp(&y.post.map_or(-1, |p| p as i128))
        })
        .then_with(|| dev_key(x.dev).cmp(&dev_key(y.dev)))
}

// ---- semver ----

pub fn semver(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| {
        let v = v.trim().trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p.to_owned())),
            None => (v, None),
        };
        let nums: Vec<u64> = core.split('.').map(|s| s.parse().unwrap_or(0)).collect();
        (nums, pre)
    };
    let (na, pa) = parse(a);
    let (nb, pb) = parse(b);
    for k in 0..3.max(na.len()).max(nb.len()) {
        let c = na.get(k).unwrap_or(&0).cmp(nb.get(k).unwrap_or(&0));
        if c != Ordering::Equal {
            return c;
        }
    }
    match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            for k in 0..xs.len().max(ys.len()) {
                let c = match (xs.get(k), ys.get(k)) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(p), Some(q)) => match (p.parse::<u64>(), q.parse::<u64>()) {
                        (Ok(m), Ok(n)) => m.cmp(&n),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        _ => p.cmp(q),
                    },
                };
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        }
    }
}

// ---- Maven (ComparableVersion, simplified) ----

#[derive(Debug, Clone, PartialEq)]
enum MItem {
    Num(u64),
    Str(String),
}

/// A qualifier's rank: alpha < beta < milestone < rc < snapshot < release < sp < others.
fn qualifier_rank(q: &str) -> (u8, String) {
    match q {
        "alpha" | "a" => (0, String::new()),
        "beta" | "b" => (1, String::new()),
        "milestone" | "m" => (2, String::new()),
        "rc" | "cr" => (3, String::new()),
        "snapshot" => (4, String::new()),
        "" | "ga" | "final" | "release" => (5, String::new()),
        "sp" => (6, String::new()),
        other => (7, other.to_owned()),
    }
}

fn maven_items(v: &str) -> Vec<MItem> {
    let v = v.to_lowercase();
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut digit = None;
    let flush = |cur: &mut String, items: &mut Vec<MItem>, digit: Option<bool>| {
        if cur.is_empty() {
            return;
        }
        items.push(if digit == Some(true) {
            MItem::Num(cur.parse().unwrap_or(u64::MAX))
        } else {
            MItem::Str(std::mem::take(cur))
        });
        cur.clear();
    };
    for c in v.chars() {
        if c == '.' || c == '-' || c == '_' {
            flush(&mut cur, &mut items, digit);
            digit = None;
            continue;
        }
        let d = c.is_ascii_digit();
        if digit.is_some_and(|x| x != d) {
            flush(&mut cur, &mut items, digit);
        }
        digit = Some(d);
        cur.push(c);
    }
    flush(&mut cur, &mut items, digit);
    // Trailing zeros and release qualifiers say nothing.
    while matches!(items.last(), Some(MItem::Num(0)))
        || matches!(items.last(), Some(MItem::Str(s)) if qualifier_rank(s).0 == 5)
    {
        items.pop();
    }
    items
}

pub fn maven(a: &str, b: &str) -> Ordering {
    let (x, y) = (maven_items(a), maven_items(b));
    for k in 0..x.len().max(y.len()) {
        let c = match (x.get(k), y.get(k)) {
            (None, None) => Ordering::Equal,
            (Some(MItem::Num(n)), None) => n.cmp(&0),
            (None, Some(MItem::Num(n))) => 0.cmp(n),
            (Some(MItem::Str(s)), None) => qualifier_rank(s).cmp(&qualifier_rank("")),
            (None, Some(MItem::Str(s))) => qualifier_rank("").cmp(&qualifier_rank(s)),
            (Some(MItem::Num(m)), Some(MItem::Num(n))) => m.cmp(n),
            (Some(MItem::Num(_)), Some(MItem::Str(_))) => Ordering::Greater,
            (Some(MItem::Str(_)), Some(MItem::Num(_))) => Ordering::Less,
            (Some(MItem::Str(s)), Some(MItem::Str(t))) => qualifier_rank(s).cmp(&qualifier_rank(t)),
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn table(s: Scheme, rows: &[(&str, &str, Ordering)]) {
        for (a, b, want) in rows {
            assert_eq!(compare(s, a, b), *want, "{s:?}: {a} vs {b}");
            assert_eq!(compare(s, b, a), want.reverse(), "{s:?}: {b} vs {a}");
        }
    }

    #[test]
    fn dpkg_ordering() {
        table(
            Scheme::Dpkg,
            &[
                ("1.0", "1.0", Equal),
                ("1.0~rc1", "1.0", Less),
                ("1.0~rc1", "1.0~rc2", Less),
                ("1:0.9", "2.0", Greater),
                ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
                ("2.36-9", "2.36-9+deb12u1", Less),
                ("1.2.3-1", "1.2.3-1.1", Less),
                ("1.0a", "1.0", Greater),
                ("1.0+b1", "1.0", Greater),
                ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Less),
                ("0:1.0", "1.0", Equal),
            ],
        );
    }

    #[test]
    fn rpm_ordering() {
        table(
            Scheme::Rpm,
            &[
                ("1.0-1", "1.0-2", Less),
                ("1:1.0-1", "2.0-1", Greater),
                ("1.0~rc1-1", "1.0-1", Less),
                ("1.0^git1-1", "1.0-1", Greater),
                ("1.10-1", "1.9-1", Greater),
                ("3.0.7-27.el9", "3.0.7-24.el9", Greater),
                ("1.0a-1", "1.0-1", Greater),
            ],
        );
    }

    #[test]
    fn apk_ordering() {
        table(
            Scheme::Apk,
            &[
                ("1.2.4-r2", "1.2.4-r10", Less),
                ("1.2.4_rc1-r0", "1.2.4-r0", Less),
                ("1.2.4_p1-r0", "1.2.4-r0", Greater),
                ("3.1.4-r5", "3.1.4-r5", Equal),
                ("1.10.0-r0", "1.9.9-r0", Greater),
                ("1.2a-r0", "1.2-r0", Greater),
            ],
        );
    }

    #[test]
    fn pep440_ordering() {
        table(
            Scheme::Pep440,
            &[
                ("1.0", "1.0.0", Equal),
                ("1.0a1", "1.0", Less),
                ("1.0rc1", "1.0b2", Greater),
                ("1.0.post1", "1.0", Greater),
                ("1.0.dev1", "1.0a1", Less),
                ("1!0.1", "2.0", Greater),
                ("2.31.0", "2.32.0", Less),
                ("1.0+local", "1.0", Equal),
            ],
        );
    }

    #[test]
    fn maven_ordering() {
        table(
            Scheme::Maven,
            &[
                ("1.0", "1.0.0", Equal),
                ("1.0-alpha-1", "1.0", Less),
                ("1.0-beta", "1.0-rc1", Less),
                ("1.0-SNAPSHOT", "1.0", Less),
                ("1.0-RC2", "1.0-SNAPSHOT", Less),
                ("2.17.1", "2.15.0", Greater),
                ("1.0.Final", "1.0", Equal),
                ("1.0-sp1", "1.0", Greater),
                ("5.3.39", "5.3.4", Greater),
            ],
        );
    }

    #[test]
    fn semver_ordering() {
        table(
            Scheme::Semver,
            &[
                ("1.0.0-alpha", "1.0.0", Less),
                ("1.0.0-alpha.1", "1.0.0-alpha.beta", Less),
                ("1.0.0-rc.1", "1.0.0-beta.11", Greater),
                ("v0.3.7", "v0.3.8", Less),
                ("1.10.0", "1.9.0", Greater),
            ],
        );
    }
}

//! API versions (`/v1.41/…`): compared as numbers.

/// `major.minor` of the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// The newest version Berth speaks.
    pub const CURRENT: ApiVersion = ApiVersion::new(1, 51);
    /// The oldest it accepts.
    pub const MIN: ApiVersion = ApiVersion::new(1, 24);

    pub const fn new(major: u32, minor: u32) -> ApiVersion {
        ApiVersion { major, minor }
    }

    /// `1.51` → version; anything else → None.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion::new(a.parse().ok()?, b.parse().ok()?))
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion::CURRENT
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion::new(1, 41)));
        assert!(ApiVersion::parse("1.x").is_none());
        assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 41));
        assert!(ApiVersion::MIN < ApiVersion::CURRENT);
        assert_eq!(ApiVersion::CURRENT.to_string(), "1.51");
    }
}

//! Progress streams (pull, push, load, build): newline-separated JSON messages.

/// `errorDetail` of a failed stream.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorDetail {
    #[serde(default, skip_serializing_if = "crate::omit::zero_i64")]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// `progressDetail` of a layer's download or upload.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProgressDetail {
    #[serde(default, skip_serializing_if = "crate::omit::zero_i64")]
    pub current: i64,
    #[serde(default, skip_serializing_if = "crate::omit::zero_i64")]
    pub total: i64,
}

/// One message of a stream (dockerd's `JSONMessage`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// A result whose shape is the stream's own (push: `{Tag, Digest, Size}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl Message {
    pub fn status(s: impl Into<String>) -> Message {
        Message {
            status: s.into(),
            ..Default::default()
        }
    }

    pub fn stream(s: impl Into<String>) -> Message {
        Message {
            stream: s.into(),
            ..Default::default()
        }
    }

    /// A stream's failure (both fields, as dockerd writes them).
    pub fn error(msg: impl Into<String>) -> Message {
        let m = msg.into();
        Message {
            error_detail: Some(ErrorDetail {
                code: 0,
                message: m.clone(),
            }),
            error: m,
            ..Default::default()
        }
    }
}

wire! {
    /// `aux` of a push's last message.
    pub struct PushResult {
        pub tag: String,
        pub digest: String,
        pub size: i64,
    }
}

//! What one HTTP response to a JSON-RPC request means: success, or exactly
//! one error class.
//!
//! MCP Streamable HTTP (spec 2025-06-18, "Sending Messages to the Server")
//! answers a POSTed request either with one `application/json` body or with a
//! `text/event-stream` whose events carry JSON-RPC messages; the response to
//! our request is among them, possibly after server notifications or
//! requests. A request counts as a success only when the status is 200 and
//! that response is a JSON-RPC `result` without `isError: true`.
//!
//! The SSE reader here is deliberately small: the load generator reads whole,
//! finished bodies and only needs each event's `data`, so it implements just
//! that part of the WHATWG event-stream grammar (line endings, comments,
//! multi-line data, incomplete trailing events) instead of pulling in a
//! streaming parser built for long-lived connections.

use http::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The class of a finished exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// HTTP 200 and a JSON-RPC result that is not a tool error.
    Ok,
    /// Any status other than 200.
    HttpStatus(u16),
    /// HTTP 200 and a JSON-RPC `error` response.
    JsonRpcError,
    /// HTTP 200 and a result with `isError: true` (MCP tool execution error).
    ToolError,
    /// HTTP 200 but no JSON-RPC response to our request in the body: unknown
    /// content type, unparsable JSON, wrong id, or a stream without it.
    Malformed,
}

/// The parts of a JSON-RPC message the classification reads; everything
/// else (the tool's content) is skipped without being built.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    method: Option<IgnoredAny>,
    #[serde(default)]
    result: Option<CallResult>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct CallResult {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

/// Classifies the response to the JSON-RPC request with id `expected_id`.
pub(crate) fn classify(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    expected_id: u64,
) -> Outcome {
    if status != StatusCode::OK {
        return Outcome::HttpStatus(status.as_u16());
    }
    let Some(message) = find_response(content_type, body, expected_id) else {
        return Outcome::Malformed;
    };
    match (message.result, message.error) {
        (_, Some(_)) => Outcome::JsonRpcError,
        (
            Some(CallResult {
                is_error: Some(true),
            }),
            None,
        ) => Outcome::ToolError,
        (Some(_), None) => Outcome::Ok,
        (None, None) => Outcome::Malformed,
    }
}

/// The JSON-RPC response with `expected_id` in a JSON or SSE body.
fn find_response(content_type: Option<&str>, body: &[u8], expected_id: u64) -> Option<Message> {
    let is_response = |m: &Message| m.method.is_none() && m.id.as_u64() == Some(expected_id);
    match media_type(content_type?).as_str() {
        "application/json" => serde_json::from_slice::<Message>(body)
            .ok()
            .filter(is_response),
        "text/event-stream" => {
            let text = std::str::from_utf8(body).ok()?;
            sse_data(text)
                .into_iter()
                .filter_map(|data| serde_json::from_str::<Message>(&data).ok())
                .find(is_response)
        }
        _ => None,
    }
}

/// The media type of a `Content-Type` value, lowercased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The `data` of every complete event in an event stream, in order.
///
/// WHATWG HTML "Interpreting an event stream": lines end in CRLF, LF or CR; a
/// line starting with `:` is a comment; `field: value` loses one leading
/// space of the value; `data` lines accumulate joined by LF; a blank line
/// dispatches the event unless its data is empty; an event not closed by a
/// blank line when the stream ends is discarded. Other fields (`event`,
/// `id`, `retry`) do not matter here and are ignored.
pub(crate) fn sse_data(stream: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data = String::new();
    let mut has_data = false;
    let mut rest = stream;
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let after = &rest[end..];
        rest = after
            .strip_prefix("\r\n")
            .unwrap_or_else(|| after.get(1..).unwrap_or_default());
        if line.is_empty() {
            if has_data {
                events.push(std::mem::take(&mut data));
            }
            data.clear();
            has_data = false;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            if has_data {
                data.push('\n');
            }
            data.push_str(value);
            has_data = true;
        }
    }
    events
}

#[cfg(test)]
mod tests;

//! Error text for people: an error and its causes on one line.

/// An error and its causes, on one line (`error: cause: cause …`). A cause whose text the
/// line already holds is left out: HTTP and gRPC clients repeat their cause in their own
/// message at times.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

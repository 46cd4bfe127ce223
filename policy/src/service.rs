//! The policy process (stub).

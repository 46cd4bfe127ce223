// Placeholder so the workspace manifest parses; the policy engineer replaces it.
fn main() {}

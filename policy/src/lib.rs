//! nfguard-policy.

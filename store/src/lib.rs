//! nfguard-store.

//! nfguard-gateway.

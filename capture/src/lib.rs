//! nfguard-capture.

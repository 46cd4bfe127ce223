//! nfguard operator command library.

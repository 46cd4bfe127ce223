//! nfguard-classifier.

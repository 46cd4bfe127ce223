//! The operator's `nfguard` command as a library: the supervisor (`run`), the protocol listing, config
//! checks, and the network-namespace lab used by `nfguard demo` and every end-to-end test.

pub mod cli;
pub mod demo;
pub mod flows;
pub mod lab;
pub mod leftovers;
pub mod replay;
pub mod rules;
pub mod run_as;
pub mod supervisor;

//! One module per subcommand: its clap `Args` and its `run`.

pub mod bench;
pub mod bench_hints;
pub mod check;
pub mod demo;
pub mod doctor;
pub mod eval;
pub mod index;
pub mod lm_score;
pub mod predict;
pub mod serve;
pub mod setup;
pub mod suggest;

//! tracehound's jobs on a real Ballista cluster: a scheduler and two executors started by the
//! test as processes on loopback (the crate's own `tracehound-ballista` binary).

mod cluster;
mod equality;
mod fixture;
mod kill;

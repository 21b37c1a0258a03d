//! What survives a reboot: the saved state (`pm2ctl save`, [`saved`]), the generator that
//! turns it into unit files at every boot ([`generator`]), and the hand-over markers of
//! apps `apply` took over from their generated units until the next boot ([`handover`]);
//! turning boot start on and off ([`startup`]).

pub mod generator;
pub mod handover;
pub mod saved;
pub mod startup;

//! What admission needs from the configuration, shared by the message and the Studio paths.

use crate::domain::behaviour::Behaviour;
use crate::domain::ids::AccountSid;
use crate::intake::signature::Verifier;

/// What admission needs from the configuration.
pub struct Gate<'a> {
    pub behaviour: &'a Behaviour,
    pub account: Option<&'a AccountSid>,
    pub verifier: &'a Verifier,
}

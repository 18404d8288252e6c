//! STUB (to be replaced): the Twilio REST adapter of the conversations port.

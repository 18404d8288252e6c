//! STUB (to be replaced): Twilio Conversations + Flex emulator.

//! STUB (to be replaced): Lex V2 runtime emulator.

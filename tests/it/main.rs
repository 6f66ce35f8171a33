//! Integration tests, in one binary so the stack links once.

mod common;
mod streaming;
mod textures;

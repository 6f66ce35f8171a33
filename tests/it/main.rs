//! Integration tests, in one binary so the stack links once.

mod common;
mod learned;
mod streaming;
mod textures;

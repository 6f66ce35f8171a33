//! Integration tests, in one binary so the stack links once.

mod common;
mod dialogue;
mod npc;
mod streaming;
mod terrain_core;
mod world_files;

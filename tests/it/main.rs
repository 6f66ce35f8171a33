//! Integration tests, in one binary so the stack links once.

mod common;
mod dialogue;
mod dialogue_app;
mod npc;
mod streaming;
mod terrain_core;
mod world_files;

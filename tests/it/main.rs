//! Integration tests, in one binary so the stack links once.

mod common;
mod dialogue;
mod dialogue_app;
#[cfg(feature = "wgpu")]
mod gpu_layers;
mod learned;
mod llm;
mod npc;
#[cfg(feature = "egui")]
mod screenshot;
mod streaming;
mod terrain_core;
mod textures;
mod world_files;

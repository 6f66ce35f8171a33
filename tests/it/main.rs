//! Integration tests, in one binary so the stack links once.

mod common;
mod determinism;
mod dialogue;
mod dialogue_app;
mod erosion;
mod file_kinds;
#[cfg(feature = "wgpu")]
mod gpu_layers;
mod idle;
mod language_model;
mod learned;
mod llm;
mod npc;
mod remote_llm;
mod scatter;
#[cfg(feature = "egui")]
mod screenshot;
mod soak;
mod streaming;
mod terrain_core;
mod textures;
mod tokenizer;
mod water;
mod world_files;

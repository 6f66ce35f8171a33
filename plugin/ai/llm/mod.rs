//! Language models for NPC dialogue: Llama-architecture inference written here, on burn (GPU or
//! CPU) and a quantized CPU engine, with the files and tokenizers such models ship with.
//!
//! | piece | what it is |
//! |---|---|
//! | [`gguf`] | GGUF files: metadata and tensor descriptors over the file's bytes, no copies |

pub mod gguf;

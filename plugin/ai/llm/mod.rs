//! Language models for NPC dialogue: Llama-architecture inference written here, on burn (GPU or
//! CPU) and a quantized CPU engine, with the files and tokenizers such models ship with.
//!
//! | piece | what it is |
//! |---|---|
//! | [`gguf`] | GGUF files: metadata and tensor descriptors over the file's bytes, no copies |
//! | [`tokenizer`] | text to token ids and back as llama.cpp does it, chat templates, untrusted text kept plain |

pub mod gguf;
pub mod tokenizer;

//! The engine as a core wasm module with no imports (work in progress: see issue 7).

//! The in-store host (work in progress: see issue 7).

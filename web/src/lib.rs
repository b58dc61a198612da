//! The browser package (work in progress: see issue 5).

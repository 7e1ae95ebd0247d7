//! Named queries (in progress).

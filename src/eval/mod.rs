//! Scoring pipemon against ground truth (being written).

//! Whole-system test support: processes, git servers, the scale simulator.

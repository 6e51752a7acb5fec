//! Executes a chart tree's Go templates (placeholder until the engine lands).

//! Renderers: format a `Plan` for people and machines. They never compute diffs;
//! everything they show arrives in the `Plan`.

pub mod text;

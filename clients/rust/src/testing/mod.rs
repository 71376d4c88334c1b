//! Test tooling, not part of the client (feature `cli`): the checker of docs/protocol-vectors.json
//! that `pixflow-client vectors` runs, and the field-by-field message comparison it uses.

pub mod diff;
pub mod vectors;

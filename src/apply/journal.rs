//! The journal (to be written): before each mutation, the intended action and the prior object.

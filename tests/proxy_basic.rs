mod support;
fn main_placeholder() {}

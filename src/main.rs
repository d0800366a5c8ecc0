//! The browser app: a thin Leptos layer over the `facelab` core.

#[cfg(target_arch = "wasm32")]
mod ui;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("facelab's app runs in the browser: start it with scripts/serve.sh (trunk serve).");
    std::process::exit(2);
}

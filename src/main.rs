//! The browser app: a thin Leptos layer over the `facelab` core. The same module also runs as the
//! compute worker (`public/worker.js`), where it serves the core's `ComputeService`.

#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod wire;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    use wasm_bindgen::JsCast;
    console_error_panic_hook::set_once();
    match js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() {
        Ok(scope) => worker::run(scope),
        Err(_) => leptos::mount::mount_to_body(ui::Root),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("facelab's app runs in the browser: start it with scripts/serve.sh (trunk serve).");
    std::process::exit(2);
}

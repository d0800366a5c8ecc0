//! The WebGPU compute worker (`public/worker-webgpu.js`): the same `ComputeService` as the CPU
//! worker, in a module of its own built with the `webgpu` feature. The page starts it only where
//! the browser gives a WebGPU adapter, so no one else downloads burn-wgpu.

#[cfg(target_arch = "wasm32")]
#[path = "wire.rs"]
mod wire;
#[cfg(target_arch = "wasm32")]
#[path = "worker.rs"]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    use wasm_bindgen::JsCast;
    console_error_panic_hook::set_once();
    let scope = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>().expect("facelab-webgpu runs in a Web Worker");
    worker::run(scope);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("facelab-webgpu is the page's WebGPU worker: start the app with scripts/serve.sh (trunk serve).");
    std::process::exit(2);
}

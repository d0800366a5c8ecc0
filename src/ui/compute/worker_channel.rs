//! A `Channel` to a compute worker (`public/worker.js`, the app's own module in a Web Worker, or
//! on WebGPU `public/worker-webgpu.js`, the module with burn-wgpu):
//! numbers each request, routes the worker's replies back to it, and turns a worker that dies
//! (a panic, or WebGPU lost) into `ComputeError::WorkerStopped` for every open request. A
//! watchdog does the same for a worker that stops answering (it hangs, or closed itself: the page
//! hears nothing of either): silent longer than the request's patience, it is terminated.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use facelab::compute::{BurnBackend, Channel, ComputeError, Reply, Request};
use futures::StreamExt;
use futures_channel::{mpsc, oneshot};
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::ui::{now_ms, sleep_ms};
use crate::wire::{message, parse};

/// The worker that runs `backend`: only WebGPU needs the (larger) module with burn-wgpu.
fn worker_url(backend: BurnBackend) -> &'static str {
    match backend {
        BurnBackend::WebGpu => "public/worker-webgpu.js",
        BurnBackend::Flex | BurnBackend::NdArray => "public/worker.js",
    }
}

/// Every reply of a request (progress ones, then the final one), in order.
type Replies = mpsc::UnboundedSender<(Reply, Vec<u8>)>;

#[derive(Default)]
struct Routes {
    open: HashMap<u32, Replies>,
    started: Option<oneshot::Sender<()>>,
    stopped: Option<String>,
}

impl Routes {
    fn stop(&mut self, why: String) {
        for (_, replies) in self.open.drain() {
            let _ = replies.unbounded_send((Reply::Failed { error: ComputeError::WorkerStopped(why.clone()) }, Vec::new()));
        }
        self.stopped = Some(why);
    }
}

/// The worker's message and error handlers, kept alive with it.
type Handlers = (Closure<dyn Fn(MessageEvent)>, Closure<dyn Fn(ErrorEvent)>);

pub struct WorkerChannel {
    worker: Worker,
    routes: Rc<RefCell<Routes>>,
    next_job: Cell<u32>,
    /// How long a photo has taken on this worker (a running average), for the watchdog.
    photo_ms: Cell<Option<f64>>,
    _handlers: Handlers,
}

impl WorkerChannel {
    /// Starts a worker for `backend` and waits until its module has loaded.
    pub async fn spawn(backend: BurnBackend) -> Result<Self, ComputeError> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(worker_url(backend), &options).map_err(|e| ComputeError::WorkerStart(format!("{e:?}")))?;
        let routes = Rc::new(RefCell::new(Routes::default()));
        let (started, has_started) = oneshot::channel();
        routes.borrow_mut().started = Some(started);

        let on_message = {
            let routes = routes.clone();
            Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
                let Some((job, body, bytes)) = parse(&event.data()) else { return };
                let mut routes = routes.borrow_mut();
                if job == 0 {
                    if let Some(started) = routes.started.take() {
                        let _ = started.send(());
                    }
                    return;
                }
                let reply: Reply = serde_json::from_str(&body)
                    .unwrap_or_else(|e| Reply::Failed { error: ComputeError::UnexpectedReply(format!("unreadable reply: {e}")) });
                let last = reply.is_final();
                if let Some(replies) = routes.open.get(&job) {
                    let _ = replies.unbounded_send((reply, bytes));
                }
                if last {
                    routes.open.remove(&job);
                }
            })
        };
        let on_error = {
            let routes = routes.clone();
            Closure::<dyn Fn(ErrorEvent)>::new(move |event: ErrorEvent| {
                // Handled here (the client restarts the worker and says so), not an uncaught error.
                event.prevent_default();
                let why = event.message();
                let mut routes = routes.borrow_mut();
                // A worker that fails before it starts never will.
                routes.started.take();
                routes.stop(if why.is_empty() { "error in the worker".into() } else { why });
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let channel = Self { worker, routes, next_job: Cell::new(0), photo_ms: Cell::new(None), _handlers: (on_message, on_error) };
        match has_started.await {
            Ok(()) => Ok(channel),
            Err(_) => Err(ComputeError::WorkerStart(channel.routes.borrow().stopped.clone().unwrap_or_else(|| "it did not start".into()))),
        }
    }
}

impl Channel for WorkerChannel {
    async fn call(&self, request: Request, bytes: &[u8], progress: &mut dyn FnMut(Reply)) -> Result<(Reply, Vec<u8>), ComputeError> {
        if let Some(why) = self.routes.borrow().stopped.clone() {
            return Err(ComputeError::WorkerStopped(why));
        }
        let job = self.next_job.get() + 1;
        self.next_job.set(job);
        let (replies, mut incoming) = mpsc::unbounded();
        self.routes.borrow_mut().open.insert(job, replies);
        let body = serde_json::to_string(&request).expect("a request serializes");
        let (message, transfer) = message(job, &body, bytes);
        if let Err(e) = self.worker.post_message_with_transfer(&message, &transfer) {
            self.routes.borrow_mut().stop(format!("cannot reach the worker: {e:?}"));
        }
        let (started, photos) = (now_ms(), request.photos());
        let patience = request.patience_ms(self.photo_ms.get());
        loop {
            let next = match futures::future::select(incoming.next(), Box::pin(sleep_ms(patience as i32))).await {
                futures::future::Either::Left((next, _)) => next,
                futures::future::Either::Right(_) => return Err(self.hung(patience)),
            };
            match next {
                Some((Reply::Failed { error }, _)) => return Err(error),
                Some((reply, bytes)) if reply.is_final() => {
                    if photos > 0 {
                        let ms = (now_ms() - started) / photos as f64;
                        self.photo_ms.set(Some(self.photo_ms.get().map_or(ms, |average| 0.8 * average + 0.2 * ms)));
                    }
                    return Ok((reply, bytes));
                }
                Some((reply, _)) => progress(reply),
                None => return Err(ComputeError::WorkerStopped("the worker went away".into())),
            }
        }
    }
}

impl WorkerChannel {
    /// Ends a worker that has not answered for `patience` ms: its open requests fail as stopped.
    fn hung(&self, patience: f64) -> ComputeError {
        let why = format!("no answer for {:.0} s", patience / 1000.0);
        self.worker.terminate();
        self.routes.borrow_mut().stop(why.clone());
        ComputeError::WorkerStopped(why)
    }
}

impl Drop for WorkerChannel {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

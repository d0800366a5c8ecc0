//! The page's side of the compute worker: starts it, sends requests and routes replies back to
//! whoever asked. A worker that dies (a panic, or WebGPU lost) fails every open request with
//! `CallError::Crashed`, so that the page can start a new one on the CPU.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use facelab::compute::{Reply, Request};
use futures_channel::oneshot;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::worker::{message, parse};

const WORKER_URL: &str = "public/worker.js";

#[derive(Debug)]
pub enum CallError {
    /// The request failed (a bad photo, say); the worker is fine.
    Failed(String),
    /// The worker is gone.
    Crashed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(e) => f.write_str(e),
            Self::Crashed(e) => write!(f, "the compute worker stopped ({e})"),
        }
    }
}

type Done = oneshot::Sender<Result<(Reply, Vec<u8>), CallError>>;

struct Open {
    progress: Box<dyn FnMut(Reply)>,
    done: Done,
}

#[derive(Default)]
struct Routes {
    open: HashMap<u32, Open>,
    started: Option<oneshot::Sender<()>>,
    crashed: Option<String>,
}

impl Routes {
    fn crash(&mut self, why: String) {
        for (_, open) in self.open.drain() {
            let _ = open.done.send(Err(CallError::Crashed(why.clone())));
        }
        self.crashed = Some(why);
    }
}

pub struct ComputeClient {
    worker: Worker,
    routes: Rc<RefCell<Routes>>,
    next_job: Cell<u32>,
    _handlers: (Closure<dyn Fn(MessageEvent)>, Closure<dyn Fn(ErrorEvent)>),
}

impl ComputeClient {
    /// Starts a worker and waits until its module has loaded.
    pub async fn start() -> Result<Rc<Self>, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(WORKER_URL, &options).map_err(|e| format!("cannot start a Web Worker: {e:?}"))?;
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
                let reply: Reply = match serde_json::from_str(&body) {
                    Ok(reply) => reply,
                    Err(e) => Reply::Failed { error: format!("unreadable reply: {e}") },
                };
                if !reply.is_final() {
                    if let Some(open) = routes.open.get_mut(&job) {
                        (open.progress)(reply);
                    }
                } else if let Some(open) = routes.open.remove(&job) {
                    let result = match reply {
                        Reply::Failed { error } => Err(CallError::Failed(error)),
                        reply => Ok((reply, bytes)),
                    };
                    let _ = open.done.send(result);
                }
            })
        };
        let on_error = {
            let routes = routes.clone();
            Closure::<dyn Fn(ErrorEvent)>::new(move |event: ErrorEvent| {
                // Handled here (the page restarts the worker and says so), not an uncaught error.
                event.prevent_default();
                let why = event.message();
                let mut routes = routes.borrow_mut();
                // A worker that fails before it starts never will.
                routes.started.take();
                routes.crash(if why.is_empty() { "error in the worker".into() } else { why });
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let client = Rc::new(Self { worker, routes, next_job: Cell::new(0), _handlers: (on_message, on_error) });
        match has_started.await {
            Ok(()) => Ok(client),
            Err(_) => Err(client.routes.borrow().crashed.clone().unwrap_or_else(|| "the worker did not start".into())),
        }
    }

    /// Sends a request with its bytes; `progress` sees the replies before the final one.
    pub async fn call(&self, request: &Request, bytes: &[u8], progress: impl FnMut(Reply) + 'static) -> Result<(Reply, Vec<u8>), CallError> {
        if let Some(why) = self.routes.borrow().crashed.clone() {
            return Err(CallError::Crashed(why));
        }
        let job = self.next_job.get() + 1;
        self.next_job.set(job);
        let (done, result) = oneshot::channel();
        self.routes.borrow_mut().open.insert(job, Open { progress: Box::new(progress), done });
        let body = serde_json::to_string(request).expect("a request serializes");
        let (message, transfer) = message(job, &body, bytes);
        if let Err(e) = self.worker.post_message_with_transfer(&message, &transfer) {
            self.routes.borrow_mut().crash(format!("cannot reach the worker: {e:?}"));
        }
        result.await.unwrap_or_else(|_| Err(CallError::Crashed("the worker went away".into())))
    }
}

impl Drop for ComputeClient {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

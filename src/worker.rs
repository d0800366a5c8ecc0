//! The compute worker: on the CPU the same module as the page (`public/worker.js`), on WebGPU the
//! `facelab-webgpu` module (`public/worker-webgpu.js`), each in a Web Worker.
//! It runs the core's `ComputeService`, one request at a time, in arrival order, with messages in
//! the shape of `wire`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use facelab::compute::{ComputeError, ComputeService, Reply, Request};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::wire::{message, parse};

struct Worker {
    scope: DedicatedWorkerGlobalScope,
    service: RefCell<ComputeService>,
    queue: RefCell<VecDeque<(u32, String, Vec<u8>)>>,
    busy: RefCell<bool>,
}

impl Worker {
    fn post(&self, job: u32, reply: &Reply, bytes: &[u8]) {
        let body = serde_json::to_string(reply).expect("a reply serializes");
        let (message, transfer) = message(job, &body, bytes);
        let _ = self.scope.post_message_with_transfer(&message, &transfer);
    }

    /// Runs queued requests until none is left (requests are handled strictly in order).
    async fn drain(self: Rc<Self>) {
        loop {
            let Some((job, body, bytes)) = self.queue.borrow_mut().pop_front() else { break };
            match serde_json::from_str::<Request>(&body) {
                Ok(request) => {
                    // Not borrowed across an await by anyone else: requests run one at a time.
                    let mut service = std::mem::take(&mut *self.service.borrow_mut());
                    service.handle(request, bytes, |reply, out| self.post(job, &reply, &out)).await;
                    *self.service.borrow_mut() = service;
                }
                Err(e) => self.post(job, &Reply::Failed { error: ComputeError::Malformed(format!("unreadable request: {e}")) }, &[]),
            }
        }
        *self.busy.borrow_mut() = false;
    }
}

pub fn run(scope: DedicatedWorkerGlobalScope) {
    let worker = Rc::new(Worker {
        scope: scope.clone(),
        service: RefCell::new(ComputeService::default()),
        queue: RefCell::new(VecDeque::new()),
        busy: RefCell::new(false),
    });
    let receiver = worker.clone();
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(request) = parse(&event.data()) else { return };
        receiver.queue.borrow_mut().push_back(request);
        if !receiver.busy.replace(true) {
            wasm_bindgen_futures::spawn_local(receiver.clone().drain());
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    let (started, _) = message(0, "\"started\"", &[]);
    let _ = scope.post_message(&started);
}

//! One tab of this browser keeps the user's data at a time. Two pages of the app open at once
//! would each save their own copy of the roster, and the last to save would erase the other's
//! people. So the page that runs the app holds a Web Lock for as long as it is open; another
//! page says the app is open elsewhere and waits for the lock (it gets it when the first page
//! closes), or asks for it at once ("Use it here", over a BroadcastChannel): the holder saves
//! what it has, lets go and reloads into the same notice. The page that gets the lock reads
//! everything from IndexedDB, so it starts from what the other one saved.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

use super::{App, sleep_ms};

const LOCK: &str = "facelab-writer";
const CHANNEL: &str = "facelab-tabs";
const HAND_OVER: &str = "hand-over";
/// How long a page that asked for the app waits before saying the other one does not answer.
const ANSWER_MS: i32 = 10_000;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Asking,
    Here,
    Elsewhere,
}

type Flush = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// What the app registers to be done before this page lets another one have the data.
#[derive(Clone, Copy)]
pub struct HandOver {
    flush: StoredValue<Option<Flush>, LocalStorage>,
}

impl HandOver {
    /// `flush` saves what is not saved yet and stops any later save.
    pub fn before_leaving<F: Future<Output = ()> + 'static>(&self, flush: impl Fn() -> F + 'static) {
        self.flush.set_value(Some(Rc::new(move || Box::pin(flush()))));
    }
}

/// Asks for the lock: at once (`None` where another page holds it) or waiting for it. Resolves to
/// the function that lets it go; `Some(None)`: this browser has no Web Locks, and nothing guards.
async fn acquire(wait: bool) -> Option<Option<Function>> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok().filter(|l| !l.is_undefined());
    let Some(locks) = locks else { return Some(None) };
    let mut resolve_granted = None;
    let granted = Promise::new(&mut |resolve, _| resolve_granted = Some(resolve));
    let resolve_granted = resolve_granted.expect("a promise calls its executor at once");
    // Called with the lock (or null where it was not free); the lock is held until the promise
    // it returns settles, which is when the release function is called.
    let held = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        if lock.is_null() {
            let _ = resolve_granted.call1(&JsValue::NULL, &JsValue::NULL);
            return JsValue::UNDEFINED;
        }
        let mut release = None;
        let until_released = Promise::new(&mut |resolve, _| release = Some(resolve));
        let _ = resolve_granted.call1(&JsValue::NULL, &release.expect("a promise calls its executor at once"));
        until_released.into()
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"ifAvailable".into(), &(!wait).into());
    let request: Function = Reflect::get(&locks, &"request".into()).ok()?.dyn_into().ok()?;
    if request.call3(&locks, &LOCK.into(), &options, &held).is_err() {
        return Some(None);
    }
    JsFuture::from(granted).await.ok()?.dyn_into::<Function>().ok().map(Some)
}

fn channel() -> Option<BroadcastChannel> {
    BroadcastChannel::new(CHANNEL).ok()
}

/// Runs the app here from now on: on another page's request, save, let go and reload.
fn run_here(tab: RwSignal<Tab>, hand_over: HandOver, release: Option<Function>) {
    tab.set(Tab::Here);
    let (Some(release), Some(channel)) = (release, channel()) else { return };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if event.data().as_string().as_deref() != Some(HAND_OVER) {
            return;
        }
        let release = release.clone();
        spawn_local(async move {
            if let Some(flush) = hand_over.flush.get_value() {
                flush().await;
            }
            let _ = release.call0(&JsValue::NULL);
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
        });
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // Both live as long as the page.
    on_message.forget();
    std::mem::forget(channel);
}

async fn claim(tab: RwSignal<Tab>, hand_over: HandOver) {
    match acquire(false).await {
        Some(release) => run_here(tab, hand_over, release),
        None => {
            tab.set(Tab::Elsewhere);
            let release = acquire(true).await.flatten();
            run_here(tab, hand_over, release);
        }
    }
}

/// The page: the app where this tab has the data, else a notice with "Use it here".
#[component]
pub fn Root() -> impl IntoView {
    let tab = RwSignal::new(Tab::Asking);
    let hand_over = HandOver { flush: StoredValue::new_local(None) };
    provide_context(hand_over);
    spawn_local(claim(tab, hand_over));
    move || match tab.get() {
        Tab::Asking => ().into_any(),
        Tab::Here => view! { <App/> }.into_any(),
        Tab::Elsewhere => view! { <OpenElsewhere/> }.into_any(),
    }
}

#[component]
fn OpenElsewhere() -> impl IntoView {
    let (message, set_message) = signal(String::new());
    let ask = move |_| {
        let Some(channel) = channel() else { return };
        let _ = channel.post_message(&HAND_OVER.into());
        channel.close();
        set_message.set("Asking the other tab to save what it has…".into());
        spawn_local(async move {
            sleep_ms(ANSWER_MS).await;
            // Gone already where the lock came: then there is no notice to update.
            set_message.try_set("The other tab does not answer: close it, and facelab opens here.".into());
        });
    };
    view! {
        <main data-testid="open-elsewhere">
            <h1>"facelab"</h1>
            <div class="card">
                <p class="big">"facelab is open in another tab."</p>
                <p>
                    "One tab at a time keeps your people and photos, so that neither erases what the other saved. "
                    "This tab takes over when that one closes, or now:"
                </p>
                <button data-testid="use-here" on:click=ask>"Use it here"</button>
                <p class="muted" data-testid="open-elsewhere-message">{message}</p>
            </div>
        </main>
    }
}

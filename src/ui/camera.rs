//! The camera: a live preview (getUserMedia) and frames captured from it as JPEG bytes, the same
//! bytes a photo file would give. Used to enroll (capture several in a row) and to recognise live.

use leptos::html::Video;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlCanvasElement, MediaStream, MediaStreamConstraints};

/// A camera preview the owning component starts, stops and captures from.
#[derive(Clone, Copy)]
pub struct Camera {
    video: NodeRef<Video>,
    stream: StoredValue<Option<MediaStream>, LocalStorage>,
    pub on: RwSignal<bool>,
    pub error: RwSignal<String>,
}

/// Why the camera gives no picture, with what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("Camera permission was denied. Allow the camera for this page in the browser's site settings, or add photos from files.")]
    Denied,
    #[error("No camera was found on this device. Add photos from files instead.")]
    NotFound,
    #[error("The camera is in use by another application.")]
    InUse,
    #[error("This browser gives the page no camera access.")]
    Unsupported,
    #[error("The camera could not start ({0}).")]
    Other(String),
    #[error("the camera has not delivered a picture yet")]
    NoPicture,
    #[error("the frame could not be encoded ({0})")]
    Encoding(String),
}

impl CameraError {
    /// The browser's reason (a DOMException's name).
    fn from_js(e: &JsValue) -> Self {
        let name = js_sys::Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
        match name.as_str() {
            "NotAllowedError" | "SecurityError" => Self::Denied,
            "NotFoundError" | "OverconstrainedError" => Self::NotFound,
            "NotReadableError" => Self::InUse,
            _ => Self::Other(name),
        }
    }
}

fn encoding(e: JsValue) -> CameraError {
    CameraError::Encoding(format!("{e:?}"))
}

impl Camera {
    pub fn new() -> Self {
        let camera = Self {
            video: NodeRef::new(),
            stream: StoredValue::new_local(None),
            on: RwSignal::new(false),
            error: RwSignal::new(String::new()),
        };
        on_cleanup(move || camera.stop());
        camera
    }

    pub async fn start(self) {
        self.error.set(String::new());
        match self.open().await {
            Ok(stream) => {
                if let Some(video) = self.video.get_untracked() {
                    video.set_src_object(Some(&stream));
                    let _ = video.play();
                }
                self.stream.set_value(Some(stream));
                self.on.set(true);
            }
            Err(e) => self.error.set(e.to_string()),
        }
    }

    async fn open(self) -> Result<MediaStream, CameraError> {
        let devices = web_sys::window().and_then(|w| w.navigator().media_devices().ok()).ok_or(CameraError::Unsupported)?;
        let constraints = MediaStreamConstraints::new();
        constraints.set_video(&JsValue::TRUE);
        let request = devices.get_user_media_with_constraints(&constraints).map_err(|e| CameraError::from_js(&e))?;
        Ok(JsFuture::from(request).await.map_err(|e| CameraError::from_js(&e))?.unchecked_into())
    }

    pub fn stop(self) {
        if let Some(Some(stream)) = self.stream.try_get_value() {
            for track in stream.get_tracks().iter() {
                track.unchecked_into::<web_sys::MediaStreamTrack>().stop();
            }
        }
        let _ = self.stream.try_set_value(None);
        if let Some(video) = self.video.try_get_untracked().flatten() {
            video.set_src_object(None);
        }
        let _ = self.on.try_set(false);
    }

    /// The current frame, as JPEG bytes.
    pub async fn capture(self) -> Result<Vec<u8>, CameraError> {
        let video = self.video.get_untracked().ok_or(CameraError::NoPicture)?;
        let (width, height) = (video.video_width(), video.video_height());
        if !self.on.get_untracked() || width == 0 || height == 0 {
            return Err(CameraError::NoPicture);
        }
        let document = web_sys::window().and_then(|w| w.document()).ok_or(CameraError::Unsupported)?;
        let canvas: HtmlCanvasElement = document.create_element("canvas").map_err(encoding)?.unchecked_into();
        canvas.set_width(width);
        canvas.set_height(height);
        let context: web_sys::CanvasRenderingContext2d =
            canvas.get_context("2d").ok().flatten().ok_or_else(|| CameraError::Encoding("no 2D canvas".into()))?.unchecked_into();
        context.draw_image_with_html_video_element(&video, 0.0, 0.0).map_err(encoding)?;
        let blob = js_sys::Promise::new(&mut |resolve, reject| {
            if canvas.to_blob_with_type_and_encoder_options(&resolve, "image/jpeg", &JsValue::from(0.92)).is_err() {
                let _ = reject.call0(&JsValue::NULL);
            }
        });
        let blob: web_sys::Blob = JsFuture::from(blob).await.map_err(encoding)?.unchecked_into();
        let buffer = JsFuture::from(blob.array_buffer()).await.map_err(encoding)?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }
}

/// Faces drawn over the preview: the frame's size and each face's box and label.
pub type Overlay = Option<(usize, usize, Vec<([f32; 4], String)>)>;

/// The preview and its start/stop button; the caller adds its own actions beside it and, if it
/// likes, boxes with labels over the picture.
#[component]
pub fn CameraView(camera: Camera, children: Children, #[prop(optional, into)] overlay: Option<Signal<Overlay>>) -> impl IntoView {
    let boxes = move || {
        overlay.and_then(|o| o.get()).map(|(width, height, faces)| view! {
            <svg viewBox=format!("0 0 {width} {height}") preserveAspectRatio="none" data-testid="live-boxes">
                {faces.into_iter().map(|([x, y, w, h], label)| view! {
                    <rect x=x y=y width=w height=h/>
                    <text x=x y={(y - 6.0).max(16.0)}>{label}</text>
                }).collect_view()}
            </svg>
        })
    };
    view! {
        <div class="camera">
            <div class="row">
                <button class="small" data-testid="camera-toggle" on:click=move |_| {
                    if camera.on.get_untracked() { camera.stop() } else { leptos::task::spawn_local(camera.start()) }
                }>{move || if camera.on.get() { "Stop camera" } else { "Use camera" }}</button>
                {children()}
            </div>
            <div class="live" class:hidden=move || !camera.on.get()>
                <video node_ref=camera.video autoplay playsinline muted data-testid="camera-preview" width="320"></video>
                {boxes}
            </div>
            <p class="error" data-testid="camera-error">{move || camera.error.get()}</p>
        </div>
    }
}

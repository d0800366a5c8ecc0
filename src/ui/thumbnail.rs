//! Pictures made in the page (face thumbnails, the export file) as object URLs: nothing is
//! fetched or sent anywhere.

use leptos::prelude::*;

/// An object URL for bytes made in the page; released with the page unless revoked.
pub fn blob_url(bytes: &[u8]) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob))
        .unwrap_or_default()
}

/// A PNG shown from its bytes; its URL is released when the picture leaves the page.
#[component]
pub fn Thumbnail(png: Vec<u8>, alt: String) -> impl IntoView {
    let url = blob_url(&png);
    let release = url.clone();
    on_cleanup(move || {
        let _ = web_sys::Url::revoke_object_url(&release);
    });
    view! { <img src=url alt=alt/> }
}

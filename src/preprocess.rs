//! Image decoding, cropping and resizing, exactly as the reference pipeline does them.
//!
//! The reference (scikit-learn's LFW loader, then Pillow) crops rows/cols 60..188 of a 250x250
//! LFW photo and resizes the 128x128 crop with `Image.resize(.., BILINEAR)`. Pillow's resize is
//! reproduced bit for bit here (same coefficients, same 22-bit fixed point, same rounding), so
//! the backbone sees exactly the pixels the independent implementation fed its model.

use std::fmt;

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Why a photo could not be turned into a backbone input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImageError {
    /// The bytes are not a PNG, JPEG or WebP the decoder understands.
    Undecodable(String),
    /// The image is too small to hold a face.
    TooSmall { width: usize, height: usize },
    /// The image is larger than we are willing to decode.
    TooLarge { width: usize, height: usize },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecodable(why) => write!(f, "not a readable PNG, JPEG or WebP image ({why})"),
            Self::TooSmall { width, height } => write!(
                f,
                "image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed to see a face"
            ),
            Self::TooLarge { width, height } => write!(
                f,
                "image is {width}x{height} pixels; more than {MAX_PIXELS} pixels is too large to process"
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// Smallest side accepted: below this no face is recognisable.
pub const MIN_SIDE: usize = 32;
/// Largest pixel count accepted (a 10,000 x 10,000 photo), to bound memory.
pub const MAX_PIXELS: usize = 100_000_000;

/// The side of LFW's photos, and the reference crop inside them.
pub const LFW_SIDE: usize = 250;
pub const LFW_CROP_START: usize = 60;
pub const LFW_CROP_SIDE: usize = 128;

impl RgbImage {
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Self {
        assert_eq!(pixels.len(), width * height * 3, "pixel buffer does not match {width}x{height} RGB");
        Self { width, height, pixels }
    }

    /// Decodes PNG, JPEG or WebP bytes to RGB (alpha dropped, grey expanded, turned upright as
    /// the EXIF orientation says), checking the size before decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        use image::ImageDecoder;
        let undecodable = |e: image::ImageError| ImageError::Undecodable(e.to_string());
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImageError::Undecodable(e.to_string()))?;
        let mut decoder = reader.into_decoder().map_err(undecodable)?;
        let (width, height) = decoder.dimensions();
        let (width, height) = (width as usize, height as usize);
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(ImageError::TooSmall { width, height });
        }
        if width * height > MAX_PIXELS {
            return Err(ImageError::TooLarge { width, height });
        }
        let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut decoded = image::DynamicImage::from_decoder(decoder).map_err(undecodable)?;
        decoded.apply_orientation(orientation);
        let rgb = decoded.into_rgb8();
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        Ok(Self::new(width, height, rgb.into_raw()))
    }

    /// The square `side` x `side` region whose top-left corner is (`left`, `top`).
    pub fn crop(&self, left: usize, top: usize, side: usize) -> Self {
        assert!(left + side <= self.width && top + side <= self.height, "crop outside the image");
        let mut pixels = Vec::with_capacity(side * side * 3);
        for row in top..top + side {
            let start = (row * self.width + left) * 3;
            pixels.extend_from_slice(&self.pixels[start..start + side * 3]);
        }
        Self::new(side, side, pixels)
    }

    /// A `side` x `side` square from (`left`, `top`), which may reach past the image: what lies
    /// outside is black.
    pub fn crop_padded(&self, left: i64, top: i64, side: usize) -> Self {
        let mut pixels = vec![0u8; side * side * 3];
        let columns = (left.max(0)..(left + side as i64).min(self.width as i64)).map(|x| x as usize);
        let (first, last) = (columns.clone().next(), columns.clone().next_back());
        if let (Some(first), Some(last)) = (first, last) {
            for row in 0..side {
                let y = top + row as i64;
                if y < 0 || y >= self.height as i64 {
                    continue;
                }
                let from = (y as usize * self.width + first) * 3;
                let to = (row * side + (first as i64 - left) as usize) * 3;
                let n = (last - first + 1) * 3;
                pixels[to..to + n].copy_from_slice(&self.pixels[from..from + n]);
            }
        }
        Self::new(side, side, pixels)
    }

    /// The colour at a point between pixel centres (pixel (0, 0)'s centre is (0.5, 0.5)),
    /// interpolated from the four nearest pixels; black outside the image.
    pub fn sample_bilinear(&self, x: f32, y: f32) -> [u8; 3] {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - x0, fy - y0);
        let pixel = |px: f32, py: f32| -> [f32; 3] {
            if px < 0.0 || py < 0.0 || px >= self.width as f32 || py >= self.height as f32 {
                return [0.0; 3];
            }
            let i = (py as usize * self.width + px as usize) * 3;
            [self.pixels[i] as f32, self.pixels[i + 1] as f32, self.pixels[i + 2] as f32]
        };
        let (p00, p10, p01, p11) = (pixel(x0, y0), pixel(x0 + 1.0, y0), pixel(x0, y0 + 1.0), pixel(x0 + 1.0, y0 + 1.0));
        std::array::from_fn(|c| {
            let top = p00[c] * (1.0 - ax) + p10[c] * ax;
            let bottom = p01[c] * (1.0 - ax) + p11[c] * ax;
            (top * (1.0 - ay) + bottom * ay).round() as u8
        })
    }

    /// The crop the reference experiment uses: rows/cols 60..188 of a 250x250 LFW photo; for any
    /// other photo, the centred square.
    pub fn face_crop(&self) -> Self {
        let (left, top, side) = self.face_crop_square();
        self.crop(left, top, side)
    }

    /// Where `face_crop` cuts: left, top and side.
    pub fn face_crop_square(&self) -> (usize, usize, usize) {
        if self.width == LFW_SIDE && self.height == LFW_SIDE {
            (LFW_CROP_START, LFW_CROP_START, LFW_CROP_SIDE)
        } else {
            let side = self.width.min(self.height);
            ((self.width - side) / 2, (self.height - side) / 2, side)
        }
    }

    /// PNG bytes of this image (thumbnails the page keeps and shows).
    pub fn to_png(&self) -> Vec<u8> {
        let mut png = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut png);
        image::ImageEncoder::write_image(encoder, &self.pixels, self.width as u32, self.height as u32, image::ExtendedColorType::Rgb8)
            .expect("an RGB8 image of its own size encodes");
        png
    }

    /// A JPEG of the image at `quality` (1-100).
    pub fn to_jpeg(&self, quality: u8) -> Vec<u8> {
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        image::ImageEncoder::write_image(encoder, &self.pixels, self.width as u32, self.height as u32, image::ExtendedColorType::Rgb8)
            .expect("an RGB8 image of its own size encodes");
        jpeg
    }

    /// Pillow's `Image.resize((width, height), Image.BILINEAR)`, bit-exact: a horizontal pass then
    /// a vertical pass, each rounding to 8 bits; downscaling widens the filter (antialiasing).
    pub fn resize_bilinear(&self, width: usize, height: usize) -> Self {
        let horizontal = if width == self.width { self.clone() } else { self.resample_rows(width) };
        if height == self.height {
            horizontal
        } else {
            horizontal.transpose().resample_rows(height).transpose()
        }
    }

    fn resample_rows(&self, out_width: usize) -> Self {
        let taps = pillow_bilinear_taps(self.width, out_width);
        let mut pixels = Vec::with_capacity(out_width * self.height * 3);
        for row in self.pixels.chunks_exact(self.width * 3) {
            for tap in &taps {
                let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
                for (i, &weight) in tap.weights.iter().enumerate() {
                    let px = &row[(tap.first + i) * 3..(tap.first + i) * 3 + 3];
                    for c in 0..3 {
                        acc[c] += px[c] as i64 * weight as i64;
                    }
                }
                pixels.extend(acc.iter().map(|&v| (v >> PRECISION_BITS).clamp(0, 255) as u8));
            }
        }
        Self::new(out_width, self.height, pixels)
    }

    fn transpose(&self) -> Self {
        let mut pixels = vec![0u8; self.pixels.len()];
        for y in 0..self.height {
            for x in 0..self.width {
                let src = (y * self.width + x) * 3;
                let dst = (x * self.height + y) * 3;
                pixels[dst..dst + 3].copy_from_slice(&self.pixels[src..src + 3]);
            }
        }
        Self::new(self.height, self.width, pixels)
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

struct Tap {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle) filter.
fn pillow_bilinear_taps(in_size: usize, out_size: usize) -> Vec<Tap> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the triangle filter's support is 1
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // Pillow truncates toward zero (C int cast), then clamps.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let fixed = w * (1u64 << PRECISION_BITS) as f64;
                    if w < 0.0 { (fixed - 0.5) as i32 } else { (fixed + 0.5) as i32 }
                })
                .collect();
            Tap { first: xmin, weights }
        })
        .collect()
}

/// How a backbone wants its pixels turned into floats.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Feed channels as B, G, R (Caffe/Keras convention) instead of R, G, B.
    pub bgr: bool,
    /// Subtracted per channel, in the order the channels are fed.
    pub mean: [f32; 3],
    /// Multiplied after subtracting the mean.
    pub scale: f32,
}

impl Normalization {
    /// Keras' "caffe" preprocessing: BGR minus the ImageNet means.
    pub const CAFFE: Self = Self { bgr: true, mean: [103.939, 116.779, 123.68], scale: 1.0 };
    /// keras-vggface's version 2 preprocessing (ResNet50 / SENet50): BGR minus the VGGFace2 means.
    pub const VGGFACE2: Self = Self { bgr: true, mean: [91.4953, 103.8827, 131.0912], scale: 1.0 };
    /// dlib's `input_rgb_image_sized`: RGB minus its means, divided by 256.
    pub const DLIB: Self = Self { bgr: false, mean: [122.782, 117.001, 104.298], scale: 1.0 / 256.0 };

    /// Planar CHW floats for one image, in the channel order and scale the backbone expects.
    pub fn to_chw(&self, image: &RgbImage) -> Vec<f32> {
        let plane = image.width * image.height;
        let mut out = vec![0f32; plane * 3];
        for (i, px) in image.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                let source = if self.bgr { 2 - c } else { c };
                out[c * plane + i] = (px[source] as f32 - self.mean[c]) * self.scale;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: usize, height: usize) -> RgbImage {
        let pixels = (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [(x * 255 / width) as u8, (y * 255 / height) as u8, ((x + y) % 256) as u8]
            })
            .collect();
        RgbImage::new(width, height, pixels)
    }

    #[test]
    fn bilinear_sample_is_exact_at_centres_and_blends_between() {
        let image = RgbImage::new(2, 1, vec![0, 0, 0, 200, 100, 50]);
        assert_eq!(image.sample_bilinear(0.5, 0.5), [0, 0, 0]);
        assert_eq!(image.sample_bilinear(1.5, 0.5), [200, 100, 50]);
        assert_eq!(image.sample_bilinear(1.0, 0.5), [100, 50, 25]);
        assert_eq!(image.sample_bilinear(-3.0, 0.5), [0, 0, 0]);
    }

    #[test]
    fn padded_crop_fills_outside_with_black() {
        let image = RgbImage::new(2, 2, vec![10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
        let crop = image.crop_padded(-1, 1, 3);
        assert_eq!(crop.pixels.chunks(3).map(|p| p[0]).collect::<Vec<_>>(), [0, 30, 40, 0, 0, 0, 0, 0, 0]);
        assert_eq!(image.crop_padded(0, 0, 2), image);
        assert_eq!(image.crop_padded(5, 5, 1).pixels, vec![0, 0, 0]);
    }

    #[test]
    fn resize_to_same_size_is_identity() {
        let img = gradient(40, 30);
        assert_eq!(img.resize_bilinear(40, 30), img);
    }

    #[test]
    fn upscale_taps_are_two_tap_with_clamped_edges() {
        let taps = pillow_bilinear_taps(128, 224);
        assert!(taps.iter().all(|t| t.weights.len() <= 3));
        assert_eq!(taps[0].first, 0);
        for t in &taps {
            let sum: i64 = t.weights.iter().map(|&w| w as i64).sum();
            assert!((sum - (1 << PRECISION_BITS)).abs() <= 2, "weights sum to {sum}");
        }
    }

    #[test]
    fn downscale_widens_the_filter() {
        let taps = pillow_bilinear_taps(128, 112);
        assert!(taps.iter().any(|t| t.weights.iter().filter(|&&w| w > 0).count() >= 3));
    }

    #[test]
    fn face_crop_uses_lfw_box_or_centre_square() {
        let lfw = gradient(250, 250);
        let crop = lfw.face_crop();
        assert_eq!((crop.width, crop.height), (128, 128));
        assert_eq!(&crop.pixels[0..3], &lfw.pixels[(60 * 250 + 60) * 3..(60 * 250 + 60) * 3 + 3]);
        let wide = gradient(300, 200);
        let crop = wide.face_crop();
        assert_eq!((crop.width, crop.height), (200, 200));
        assert_eq!(&crop.pixels[0..3], &wide.pixels[50 * 3..50 * 3 + 3]);
    }

    #[test]
    fn caffe_normalization_reorders_to_bgr() {
        let img = RgbImage::new(1, 1, vec![10, 20, 30]);
        let chw = Normalization::CAFFE.to_chw(&img);
        assert_eq!(chw, vec![30.0 - 103.939, 20.0 - 116.779, 10.0 - 123.68]);
    }

    #[test]
    fn bad_bytes_and_tiny_images_are_rejected_with_reasons() {
        assert!(matches!(RgbImage::decode(b"not an image"), Err(ImageError::Undecodable(_))));
        let mut png = Vec::new();
        image::RgbImage::new(1, 1)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let err = RgbImage::decode(&png).unwrap_err();
        assert_eq!(err, ImageError::TooSmall { width: 1, height: 1 });
        assert!(err.to_string().contains("1x1"));
    }

    #[test]
    fn exif_orientation_turns_the_photo_upright() {
        // A 48x32 JPEG, red on its left half, with EXIF orientation 6 (shown turned 90 degrees
        // clockwise): upright it is 32x48, red on top.
        let mut pixels = image::RgbImage::new(48, 32);
        for (x, _, p) in pixels.enumerate_pixels_mut() {
            *p = if x < 24 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) };
        }
        let mut jpeg = Vec::new();
        pixels.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let tiff: &[u8] = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";
        let payload = [b"Exif\0\0".as_slice(), tiff].concat();
        let length = (payload.len() + 2) as u16;
        let app1 = [&[0xff, 0xe1][..], &length.to_be_bytes(), &payload].concat();
        let with_exif = [&jpeg[..2], &app1, &jpeg[2..]].concat();
        let upright = RgbImage::decode(&with_exif).unwrap();
        assert_eq!((upright.width, upright.height), (32, 48));
        let red_at = |x: usize, y: usize| upright.pixels[3 * (y * upright.width + x)] > 200;
        assert!(red_at(16, 4) && !red_at(16, 44), "the left half is on top now");
        assert_eq!((RgbImage::decode(&jpeg).unwrap().width), 48, "without EXIF it stays as stored");
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // A real 64x64 JPEG whose frame header claims 20000x20000 pixels (1.2 GB decoded): refused
        // from the header alone, before any pixel is decoded or memory set aside.
        let mut jpeg = Vec::new();
        image::RgbImage::new(64, 64).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).expect("a baseline frame header");
        // Marker, length (2), precision (1), then height and width.
        jpeg[sof + 5..sof + 7].copy_from_slice(&20_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&20_000u16.to_be_bytes());
        assert_eq!(RgbImage::decode(&jpeg).err(), Some(ImageError::TooLarge { width: 20_000, height: 20_000 }));
    }
}

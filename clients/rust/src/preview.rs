//! Preview frames as images (feature `preview`, the `image` crate with its JPEG and PNG decoders).

use image::{DynamicImage, ImageFormat, ImageResult};

use crate::protocol::JobPreviewEvent;

/// Decode a `job.preview` frame by its `format` (`jpeg` or `png`; anything else is guessed from
/// the bytes).
pub fn decode_preview(event: &JobPreviewEvent) -> ImageResult<DynamicImage> {
    match event.format.as_str() {
        "jpeg" => image::load_from_memory_with_format(&event.image, ImageFormat::Jpeg),
        "png" => image::load_from_memory_with_format(&event.image, ImageFormat::Png),
        _ => image::load_from_memory(&event.image),
    }
}

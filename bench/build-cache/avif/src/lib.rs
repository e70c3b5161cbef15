// Renders a gradient, resizes it with `image` and encodes it as AVIF (ravif), WebP (webp) or
// PNG (`?format=`); `x-format: json` describes the result instead.
use image::{imageops::FilterType, ImageBuffer, ImageFormat, Rgba};
use openruntimes::{Context, Response};
use std::collections::HashMap;
use std::io::Cursor;

const LABEL: &str = "optimizer v1";

pub fn main(context: Context) -> Response {
    let size: u32 = context.req.query.get("size").and_then(|s| s.parse().ok()).unwrap_or(64).clamp(1, 512);
    let format = context.req.query.get("format").cloned().unwrap_or_else(|| "avif".to_string());
    let source = ImageBuffer::from_fn(size * 2, size * 2, |x, y| Rgba([(x * 255 / (size * 2)) as u8, (y * 255 / (size * 2)) as u8, 128, 255]));
    let picture = image::imageops::resize(&source, size, size, FilterType::Lanczos3);
    let (bytes, mime) = match format.as_str() {
        "avif" => {
            let pixels: Vec<ravif::RGBA8> = picture.pixels().map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3])).collect();
            match ravif::Encoder::new().with_quality(70.0).with_speed(10).encode_rgba(ravif::Img::new(&pixels[..], size as usize, size as usize)) {
                Ok(encoded) => (encoded.avif_file, "image/avif"),
                Err(err) => return context.res.text(format!("AVIF encoding failed: {err}"), Some(500), None),
            }
        }
        "webp" => (webp::Encoder::from_rgba(picture.as_raw(), size, size).encode(75.0).to_vec(), "image/webp"),
        _ => {
            let mut png = Vec::new();
            if let Err(err) = picture.write_to(&mut Cursor::new(&mut png), ImageFormat::Png) {
                return context.res.text(format!("PNG encoding failed: {err}"), Some(500), None);
            }
            (png, "image/png")
        }
    };
    if context.req.headers.get("x-format").map(String::as_str) == Some("json") {
        return context.res.json(serde_json::json!({ "label": LABEL, "size": size, "format": mime, "bytes": bytes.len() }), None, None);
    }
    let headers = HashMap::from([("content-type".to_string(), mime.to_string())]);
    context.res.binary(bytes, None, Some(headers))
}

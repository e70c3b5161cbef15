// Renders a small PNG gradient; `x-format: json` describes it instead.
use image::{ImageBuffer, ImageFormat, Rgb};
use openruntimes::{Context, Response};
use std::collections::HashMap;
use std::io::Cursor;

const LABEL: &str = "gradient v1";

pub fn main(context: Context) -> Response {
    let size: u32 = context.req.query.get("size").and_then(|s| s.parse().ok()).unwrap_or(64).clamp(1, 1024);
    let picture = ImageBuffer::from_fn(size, size, |x, y| Rgb([(x * 255 / size) as u8, (y * 255 / size) as u8, 128]));
    let mut png = Vec::new();
    if let Err(err) = picture.write_to(&mut Cursor::new(&mut png), ImageFormat::Png) {
        context.error(format!("PNG encoding failed: {err}"));
        return context.res.text("", Some(500), None);
    }
    if context.req.headers.get("x-format").map(String::as_str) == Some("json") {
        return context.res.json(serde_json::json!({ "label": LABEL, "size": size, "pngBytes": png.len() }), None, None);
    }
    let headers = HashMap::from([("content-type".to_string(), "image/png".to_string())]);
    context.res.binary(png, None, Some(headers))
}

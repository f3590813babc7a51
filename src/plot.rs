//! One way to draw a PNG chart: plotters on a bitmap, the embedded DejaVu
//! font (no system fonts needed), a white background, the legend style all
//! charts share, and drawing errors turned into one message naming the file.
//! Learning curves, loss curves, return-conditioning and reliability charts
//! all draw through `png`.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The drawing area a chart is drawn on.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What drawing code returns (plotters' errors, boxed).
pub type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws a `size` (width, height) PNG at `path` with `draw`.
pub fn png(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let drawn = (|| -> Drawn {
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// The legend every chart uses, at `position`.
pub fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Registers the embedded font for plots (idempotent).
pub fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is embedded by the `dejavu` crate; registering can only fail
        // on a malformed font, which would show as missing text, not a crash.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

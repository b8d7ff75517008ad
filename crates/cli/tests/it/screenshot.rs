//! A page served by a function through its Function URL renders in a real browser: `grace
//! serve` runs `http-axum` (examples/http-axum, on lambda-grace-http), headless Chromium
//! screenshots `http://LISTEN/lambda-url/app/`, and the PNG shows the page's own colours.
//! Negative control: the screenshot of a 404 URL (a function URL of no function: grace's JSON
//! 404) lacks them. (An empty 404, the app's own for a path it does not route, headless
//! Chromium does not screenshot at all: `net::ERR_HTTP_RESPONSE_CODE_FAILURE`.)
//! (docs/http-page.png is such a screenshot.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Serve, temp_dir, workspace_bin};

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|c| Path::new(c).exists())
        .unwrap_or_else(|| {
            panic!("Chromium is missing: run scripts/setup-test-deps.sh (it installs Debian's chromium)")
        })
}

/// An 800×600 screenshot of `url` by headless Chromium, with a profile of its own.
fn screenshot(url: &str, dir: &Path, tag: &str) -> PathBuf {
    let png = dir.join(format!("{tag}.png"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=800,600",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("{tag}-profile")).display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        png.exists(),
        "no screenshot of {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    png
}

/// The PNG's width, height and RGB pixels.
fn decode(png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(png).expect("open png"));
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// The page's colours (examples/http-axum/src/page.rs): the header band, the green `GET`
/// badges, the brown `POST` badge; and how many pixels of each a rendering must have.
const COLOURS: [(&str, [u8; 3], usize); 3] = [
    ("header #1d2330", [0x1d, 0x23, 0x30], 20_000),
    ("GET badge #2f7d4f", [0x2f, 0x7d, 0x4f], 100),
    ("POST badge #9a5b13", [0x9a, 0x5b, 0x13], 20),
];

fn count(pixels: &[[u8; 3]], rgb: [u8; 3]) -> usize {
    pixels.iter().filter(|p| **p == rgb).count()
}

#[test]
fn the_example_page_through_a_function_url_renders_in_chromium_with_its_colours() {
    let bin = workspace_bin("http-axum");
    let s = Serve::start(&["--name", "app", "--", bin.to_str().unwrap()]);
    let dir = temp_dir("screenshot");

    let page = screenshot(&format!("http://{}/lambda-url/app/", s.addr), &dir, "page");
    let (w, h, pixels) = decode(&page);
    assert_eq!((w, h), (800, 600), "{}", page.display());
    for (what, rgb, least) in COLOURS {
        let n = count(&pixels, rgb);
        assert!(
            n >= least,
            "{what}: {n} pixels (< {least}) in {}",
            page.display()
        );
    }

    // Negative control: the same browser and server, a 404 URL (no function `nope`, so
    // grace's own `{"Message":"Function not found: nope"}`): none of the page's colours.
    let url = format!("http://{}/lambda-url/nope/", s.addr);
    let missing = screenshot(&url, &dir, "missing");
    let (w, h, pixels) = decode(&missing);
    assert_eq!((w, h), (800, 600));
    for (what, rgb, _) in COLOURS {
        assert_eq!(count(&pixels, rgb), 0, "{what} in {}", missing.display());
    }
    // A rendering, not a blank: the JSON text is drawn (dark pixels on white).
    let dark = pixels
        .iter()
        .filter(|p| p.iter().all(|c| *c < 0x80))
        .count();
    assert!(dark > 50, "{dark} dark pixels in {}", missing.display());
    let a = s.request("GET", "/lambda-url/nope/", &[], b"");
    assert_eq!(a.status, 404, "{}", a.text());
    // The page's own HTML, as the browser got it.
    let a = s.request("GET", "/lambda-url/app/", &[], b"");
    assert_eq!(a.status, 200);
    assert!(
        a.text().contains("<h1>lambda-grace-http</h1>"),
        "{}",
        a.text()
    );
}
